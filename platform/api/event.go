package api

import "encoding/json"

// EventType says what happened to an object.
type EventType string

// Event types of a watch stream.
const (
	EventAdded    EventType = "ADDED"
	EventModified EventType = "MODIFIED"
	EventDeleted  EventType = "DELETED"
	// EventSynced marks the end of the initial list of a watch: every object
	// that existed when the watch started has been sent.
	EventSynced EventType = "SYNCED"
)

// Event is one line of a watch stream.
type Event struct {
	Type   EventType       `json:"type"`
	Kind   string          `json:"kind,omitempty"`
	Object json.RawMessage `json:"object,omitempty"`
}

// ErrorBody is the JSON body of every API error response.
type ErrorBody struct {
	// Code is a short machine-readable class: invalid, not_found,
	// conflict, too_large, unavailable, timeout, internal.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the invalid field of a 400 response.
	Field     string `json:"field,omitempty"`
	Hint      string `json:"hint,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}
