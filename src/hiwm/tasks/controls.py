"""How a person's devices map onto a task's action: the action layout a task declares next to its spec.

    spec = TaskSpec(..., extra={"controls": ActionLayout(names=("x", "y"), units=("px", "px"), ...)})
    layout = action_layout(spec)        # the declared layout, or one derived from the action box

The layout says which action dims are the XY target (moved by arrows / WASD, the mouse, the left stick),
which one is height (two keys, the triggers) and which one is the grasp (one key toggles it between the
box's low and high end), their names and units, and which rectangle of the XY plane the task's
``render_scene`` picture shows (``view``: left, right, top, bottom edges in action units), so a pointer on
the picture maps to an XY target and "up" on the screen is known for either y convention. The studio
sends it to the page as :meth:`ActionLayout.to_dict`; nothing in the studio names a task.
"""

from __future__ import annotations

from dataclasses import dataclass

from hiwm.errors import HiwmError


@dataclass(frozen=True)
class ActionLayout:
    names: tuple[str, ...]
    units: tuple[str, ...]
    view: tuple[float, float, float, float]  # the picture's left, right, top, bottom edges (XY action units)
    xy: tuple[int, int] = (0, 1)
    height: int | None = None
    grasp: int | None = None
    grasp_closed: float = 0.5  # the grasp is closed at or above this
    xy_speed: tuple[float, float, float] = (2.0, 12.0, 40.0)  # slider min, default, max: XY units per step
    height_speed: float = 0.0  # height units per step at the default XY speed (scales with the slider)
    agent_is_action: bool = True  # the agent state reads as the action that holds it still

    @property
    def workspace(self) -> float:
        """The width of the picture in XY units: the task's length scale (trust and queue thresholds)."""
        return abs(self.view[1] - self.view[0])

    def check(self, action_dim: int, agent_dim: int) -> "ActionLayout":
        """A one-line HiwmError unless the layout fits an action of ``action_dim`` dims."""
        dims = [*self.xy, *(d for d in (self.height, self.grasp) if d is not None)]
        if len(self.names) != action_dim or len(self.units) != action_dim:
            raise HiwmError(f"action layout: {action_dim} names and units needed, "
                            f"got {len(self.names)} / {len(self.units)}")
        if len(set(dims)) != len(dims) or not all(0 <= d < action_dim for d in dims):
            raise HiwmError(f"action layout: xy / height / grasp dims {dims} must be distinct and below {action_dim}")
        if self.view[0] == self.view[1] or self.view[2] == self.view[3]:
            raise HiwmError(f"action layout: the view {self.view} has no area")
        lo, default, hi = self.xy_speed
        if not 0 < lo <= default <= hi:
            raise HiwmError(f"action layout: xy_speed {self.xy_speed} must be 0 < min <= default <= max")
        if self.height is not None and self.height_speed <= 0:
            raise HiwmError("action layout: a height dim needs a positive height_speed")
        if self.agent_is_action and agent_dim != action_dim:
            raise HiwmError(f"action layout: agent_is_action needs agent_dim == action_dim, "
                            f"got {agent_dim} and {action_dim}")
        return self

    def to_dict(self) -> dict:
        """Plain JSON for the page."""
        return {"names": list(self.names), "units": list(self.units), "view": list(self.view), "xy": list(self.xy),
                "height": self.height, "grasp": self.grasp, "grasp_closed": self.grasp_closed,
                "xy_speed": list(self.xy_speed), "height_speed": self.height_speed,
                "agent_is_action": self.agent_is_action}


def action_layout(spec) -> ActionLayout:
    """``spec.extra["controls"]``, checked; a task that declares none gets its first two action dims as XY
    over a picture of its action box (y down, as in an image), no height and no grasp."""
    layout = spec.extra.get("controls")
    if layout is None:
        lo, hi = spec.action_low, spec.action_high
        if spec.action_dim < 2:
            raise HiwmError(f"{spec.name}: a 1-D action has no XY target; declare extra['controls']")
        span = hi[0] - lo[0]
        layout = ActionLayout(names=tuple(f"a{i}" for i in range(spec.action_dim)), units=("",) * spec.action_dim,
                              view=(lo[0], hi[0], lo[1], hi[1]), xy_speed=(span / 256, span / 40, span / 12),
                              agent_is_action=spec.agent_dim == spec.action_dim)
    if not isinstance(layout, ActionLayout):
        raise HiwmError(f"{spec.name}: extra['controls'] must be an ActionLayout, got {type(layout).__name__}")
    return layout.check(spec.action_dim, spec.agent_dim)
