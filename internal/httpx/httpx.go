// Package httpx holds the HTTP plumbing every Tributary API shares:
// JSON errors with stable codes, JSON responses and key authentication.
package httpx

import (
	"encoding/json"
	"net/http"
)

// Error is the JSON body of every error response.
type Error struct {
	Success bool   `json:"success"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError answers status with {"success":false,"code":…,"message":…}.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, Error{Success: false, Code: code, Message: msg})
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
