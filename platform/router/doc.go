// Package router maps HTTP requests to functions: HTTP triggers (exact,
// {param} and prefix routes) and the internal /fn/<namespace>/<name> route,
// then proxies to a specialized instance from its own cache, asking the
// poolmgr only when no cached instance has spare capacity.
//
// It talks to the poolmgr through its Instances interface and reads objects
// through Objects; it must not import controller, poolmgr or fetcher.
package router
