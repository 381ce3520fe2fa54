"""The pixel world model: camera frames and the robot's own state in, camera frames out (model.py, fit.py)."""
