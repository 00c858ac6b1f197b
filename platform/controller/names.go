package controller

import "strings"

// lower turns a kind into the word users read: "HTTPTrigger" → "route".
func lower(kind string) string {
	if kind == "HTTPTrigger" {
		return "route"
	}
	return strings.ToLower(kind)
}
