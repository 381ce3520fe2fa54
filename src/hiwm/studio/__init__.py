"""Hi-WM Studio: a person corrects the policy inside the world model, in the browser.

    hiwm studio --task pusht            # then open http://127.0.0.1:8765/

server.py serves the page (static/: plain HTML/JS, no build step) and a WebSocket; protocol.py checks
every message; core.py turns each into one session-engine event (session/engine.py), exactly as the
scripted operator sends them; failures.py finds the states that need help; export.py writes kept
branches to the corrections LeRobotDataset. See docs/studio.md.
"""
