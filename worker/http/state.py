"""Everything that affects the state machine, for both sides of one connection.

The machine does not know which side we are: a Connection feeds it the events
it sends and receives, tagged with the role that produced them.  Two tables
give the event-driven moves; the few moves that depend on both sides at once
(keep-alive, closing, protocol switches) are applied after every event.
"""

from __future__ import annotations

from enum import Enum

from .errors import LocalProtocolError
from .events import ConnectionClosed, Data, EndOfMessage, Event, InformationalResponse, Request, Response


class Role(Enum):
    CLIENT = "CLIENT"
    SERVER = "SERVER"

    def __repr__(self) -> str:
        return self.value


class State(Enum):
    IDLE = "IDLE"
    SEND_RESPONSE = "SEND_RESPONSE"
    SEND_BODY = "SEND_BODY"
    DONE = "DONE"
    MUST_CLOSE = "MUST_CLOSE"
    CLOSED = "CLOSED"
    MIGHT_SWITCH_PROTOCOL = "MIGHT_SWITCH_PROTOCOL"
    SWITCHED_PROTOCOL = "SWITCHED_PROTOCOL"
    ERROR = "ERROR"

    def __repr__(self) -> str:
        return self.value


CLIENT, SERVER = Role.CLIENT, Role.SERVER
IDLE, SEND_RESPONSE, SEND_BODY, DONE = State.IDLE, State.SEND_RESPONSE, State.SEND_BODY, State.DONE
MUST_CLOSE, CLOSED, ERROR = State.MUST_CLOSE, State.CLOSED, State.ERROR
MIGHT_SWITCH_PROTOCOL, SWITCHED_PROTOCOL = State.MIGHT_SWITCH_PROTOCOL, State.SWITCHED_PROTOCOL

_CLOSING = {state: {ConnectionClosed: CLOSED} for state in (DONE, MUST_CLOSE, CLOSED)}

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
        """Move *role* for an event it produced; a server's switch acceptance moves both sides."""
        if switch_accepted:
            if self.states[CLIENT] is not MIGHT_SWITCH_PROTOCOL:
                raise LocalProtocolError("protocol switch accepted before the request was complete")
            self.states = {CLIENT: SWITCHED_PROTOCOL, SERVER: SWITCHED_PROTOCOL}
            return
        self._fire_event_triggered_transition(role, event_type)
        if role is CLIENT and event_type is Request and self.states[SERVER] is IDLE:
            self.states[SERVER] = SEND_RESPONSE
        if role is SERVER and event_type is Response:
            self.switch_proposed = False
            if self.states[CLIENT] is MIGHT_SWITCH_PROTOCOL:
                self.states[CLIENT] = DONE
        self._fire_state_triggered_transitions()

    def _fire_event_triggered_transition(self, role: Role, event_type: type[Event]) -> None:
        state = self.states[role]
        new_state = EVENT_TRIGGERED_TRANSITIONS[role].get(state, {}).get(event_type)
        if new_state is None:
            raise LocalProtocolError(f"can't handle {event_type.__name__} when {role.value} is {state.value}")
        self.states[role] = new_state

    def _fire_state_triggered_transitions(self) -> None:
        if self.switch_proposed and self.states[CLIENT] is DONE:
            self.states[CLIENT] = MIGHT_SWITCH_PROTOCOL
        for role, other in ((CLIENT, SERVER), (SERVER, CLIENT)):
            if self.states[other] in (CLOSED, ERROR):
                self.keep_alive = False
            if self.states[other] is CLOSED and self.states[role] is IDLE:
                self.states[role] = MUST_CLOSE
        if not self.keep_alive:
            for role in (CLIENT, SERVER):
                if self.states[role] is DONE:
                    self.states[role] = MUST_CLOSE

    def start_next_cycle(self) -> None:
        """Both sides are done and the connection stays open: begin the next exchange."""
        if self.states != {CLIENT: DONE, SERVER: DONE} or not self.keep_alive:
            raise LocalProtocolError(f"not in a reusable state: {self.states}")
        self.states = {CLIENT: IDLE, SERVER: IDLE}
        self.switch_proposed = False
