"""Everything that affects the state machine, for both sides of one connection.

The machine does not know which side we are: a Connection feeds it the events
it sends and receives, tagged with the role that produced them.  Two tables
give the event-driven moves; the few moves that depend on both sides at once
(keep-alive, closing, protocol switches) are applied after every event.

Roles and states are plain sentinels, not Enum members: they key dicts on every
event, and an Enum member hashes through Python code.
"""

from __future__ import annotations

from .errors import LocalProtocolError
from .events import ConnectionClosed, Data, EndOfMessage, Event, InformationalResponse, Request, Response


class _Sentinel:
    """A named constant compared and hashed by identity."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return self.value

    def __reduce__(self) -> str:
        """Copies and pickles resolve to the module's constant, as Enum members do."""
        return self.value


class Role(_Sentinel):
    """Which side of the connection produced an event."""

    __slots__ = ()


class State(_Sentinel):
    """Where one side is in its exchange."""

    __slots__ = ()


CLIENT, SERVER = Role("CLIENT"), Role("SERVER")
IDLE, SEND_RESPONSE, SEND_BODY, DONE = State("IDLE"), State("SEND_RESPONSE"), State("SEND_BODY"), State("DONE")
MUST_CLOSE, CLOSED, ERROR = State("MUST_CLOSE"), State("CLOSED"), State("ERROR")
MIGHT_SWITCH_PROTOCOL, SWITCHED_PROTOCOL = State("MIGHT_SWITCH_PROTOCOL"), State("SWITCHED_PROTOCOL")

_CLOSING = {state: {ConnectionClosed: CLOSED} for state in (DONE, MUST_CLOSE, CLOSED)}
_ENDED = (CLOSED, ERROR)
_NO_MOVES: dict[type[Event], State] = {}

EVENT_TRIGGERED_TRANSITIONS: dict[Role, dict[State, dict[type[Event], State]]] = {
    CLIENT: {
        IDLE: {Request: SEND_BODY, ConnectionClosed: CLOSED},
        SEND_BODY: {Data: SEND_BODY, EndOfMessage: DONE},
        **_CLOSING,
    },
    SERVER: {
        IDLE: {Response: SEND_BODY, ConnectionClosed: CLOSED},
        SEND_RESPONSE: {InformationalResponse: SEND_RESPONSE, Response: SEND_BODY},
        SEND_BODY: {Data: SEND_BODY, EndOfMessage: DONE},
        **_CLOSING,
    },
}
"""Server IDLE accepts a Response so that an error can be answered before any request was read."""


class ConnectionState:
    """The states of both sides, the keep-alive flag and a pending protocol switch."""

    __slots__ = ("keep_alive", "states", "switch_proposed")

    def __init__(self) -> None:
        self.states = {CLIENT: IDLE, SERVER: IDLE}
        self.keep_alive = True
        self.switch_proposed = False

    def process_error(self, role: Role) -> None:
        self.states[role] = ERROR
        self._fire_state_triggered_transitions()

    def process_keep_alive_disabled(self) -> None:
        self.keep_alive = False
        self._fire_state_triggered_transitions()

    def process_client_switch_proposal(self) -> None:
        self.switch_proposed = True

    def process_event(self, role: Role, event_type: type[Event], *, switch_accepted: bool = False) -> None:
        """Move *role* for an event it produced; a server's switch acceptance moves both sides.

        Only a client may move on a Request and only a server on a Response, so
        their side effects need not check the role.
        """
        states = self.states
        if switch_accepted:
            if states[CLIENT] is not MIGHT_SWITCH_PROTOCOL:
                raise LocalProtocolError("protocol switch accepted before the request was complete")
            self.states = {CLIENT: SWITCHED_PROTOCOL, SERVER: SWITCHED_PROTOCOL}
            return
        state = states[role]
        new_state = EVENT_TRIGGERED_TRANSITIONS[role].get(state, _NO_MOVES).get(event_type)
        if new_state is None:
            raise LocalProtocolError(f"can't handle {event_type.__name__} when {role.value} is {state.value}")
        states[role] = new_state
        if event_type is Request:
            if states[SERVER] is IDLE:
                states[SERVER] = SEND_RESPONSE
        elif event_type is Response:
            self.switch_proposed = False
            if states[CLIENT] is MIGHT_SWITCH_PROTOCOL:
                states[CLIENT] = DONE
        if self.keep_alive and not self.switch_proposed and new_state is not CLOSED:
            return
        self._fire_state_triggered_transitions()

    def _fire_state_triggered_transitions(self) -> None:
        """Apply the moves that depend on both sides.

        A side only becomes CLOSED or ERROR in a call that ends here, so such a
        side has always turned keep-alive off; ``process_event`` relies on that to
        skip this call when keep-alive is on, no switch is pending and the side did
        not just close (the moves are idempotent, so running them again changes nothing).
        """
        states = self.states
        client, server = states[CLIENT], states[SERVER]
        if self.switch_proposed and client is DONE:
            client = MIGHT_SWITCH_PROTOCOL
        if client in _ENDED or server in _ENDED:
            self.keep_alive = False
        if server is CLOSED and client is IDLE:
            client = MUST_CLOSE
        if client is CLOSED and server is IDLE:
            server = MUST_CLOSE
        if not self.keep_alive:
            if client is DONE:
                client = MUST_CLOSE
            if server is DONE:
                server = MUST_CLOSE
        states[CLIENT], states[SERVER] = client, server

    def start_next_cycle(self) -> None:
        """Both sides are done and the connection stays open: begin the next exchange."""
        states = self.states
        if states[CLIENT] is not DONE or states[SERVER] is not DONE or not self.keep_alive:
            raise LocalProtocolError(f"not in a reusable state: {states}")
        states[CLIENT], states[SERVER] = IDLE, IDLE
        self.switch_proposed = False
