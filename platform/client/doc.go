// Package client holds typed HTTP clients for Lantern's APIs: Controller for
// the REST API of the controller and Poolmgr for the poolmgr's instance API.
//
// It imports only api and the standard library, so the CLI and every
// component can use it without importing each other.
package client
