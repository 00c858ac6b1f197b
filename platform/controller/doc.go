// Package controller serves Lantern's REST API: environments, functions with
// their code packages, and HTTP triggers, kept in a store.Store, plus a watch
// stream that tells the other components about every change.
//
// It must not import poolmgr, router or fetcher; they talk to it over HTTP
// through package client.
package controller
