// Package api holds Lantern's domain and wire types: environments, functions,
// HTTP triggers, their validation, and the events components exchange.
//
// It imports only the standard library; every other package may import it.
package api
