package main

const functionUID = "lantern-function"

// function is one function in detail, picked with the namespace and
// function variables.
func function() *Dashboard {
	d := base(functionUID, "Lantern / Function",
		"One function in detail: calls, errors, latency, platform overhead, cold starts, instances and responses.")
	d.Templating.List = append(d.Templating.List,
		labelValues("namespace", "Namespace", "namespace", "lantern_function_calls_total", ""),
		labelValues("function", "Function", "function", "lantern_function_calls_total", `namespace="$namespace"`),
	)
	b := newBoard(d)
	const (
		sel      = `namespace="$namespace", function="$function"`
		calls    = "lantern_function_calls_total"
		errs     = "lantern_function_errors_total"
		duration = "lantern_function_duration_seconds"
		cold     = "lantern_function_cold_starts_total"
		fnInst   = "lantern_function_instances"
		size     = "lantern_function_response_size_bytes"
	)

	b.row("Calls")
	b.add(6, 5, stat("Calls / s", "Calls to the function through the router.", "reqps",
		q(rate(calls, sel, ""), "calls/s")))
	b.add(6, 5, stat("Error ratio", "Share of calls answered with a status of 400 or more.", "percentunit",
		q("("+rate(errs, sel, "")+" or vector(0)) / "+rate(calls, sel, ""), "errors")).thresholds(0.01, "orange", 0.05, "red"))
	b.add(6, 5, stat("p99 call duration", "99th percentile of the whole call as the router sees it.", "s",
		q(histogramQuantile(0.99, duration, sel, ""), "p99")).thresholds(1.0, "orange", 2.5, "red"))
	b.add(6, 5, stat("Ready instances", "Instances specialized for the function and serving.", "none",
		q(gauge(fnInst, and(sel, `state="ready"`), "")+" or vector(0)", "ready")))
	b.add(12, 8, timeseries("Calls / s by status code", "Calls by HTTP status code.", "reqps",
		q(rate(calls, sel, "code"), "{{code}}")).stacked())
	b.add(12, 8, timeseries("Errors / s by status code", "Calls answered with a status of 400 or more.", "reqps",
		q(rate(errs, sel, "code"), "{{code}}")).stacked())
	b.add(12, 8, timeseries("In-flight calls", "Calls being served now.", "none",
		q(gauge("lantern_router_requests_in_flight", sel, ""), "in flight")))
	b.add(12, 8, timeseries("Instance cache", "Calls served by an instance the router had cached (hits) and calls that waited for the poolmgr (misses).", "reqps",
		q(rate("lantern_router_instance_cache_hits_total", sel, ""), "hits"),
		q(rate("lantern_router_instance_cache_misses_total", sel, ""), "misses")))

	b.row("Latency")
	b.add(8, 8, timeseries("Call duration", "Whole call as the router sees it, to the end of the response: p50, p90 and p99.", "s",
		quantiles(duration, sel, "")...))
	b.add(8, 8, timeseries("Platform overhead", "Time the platform adds to a call (everything but waiting on the instance, cold starts included): p50, p90 and p99.", "s",
		quantiles("lantern_function_overhead_seconds", sel, "")...))
	b.add(8, 8, timeseries("p99 by trigger and status class", "99th percentile of the call duration by trigger (http route or internal /fn/ path) and status class.", "s",
		quantiles(duration, sel, "trigger, code_class", 0.99)...))

	b.row("Cold starts")
	b.add(6, 8, timeseries("Cold starts / s by outcome", "Specializations of a generic instance for the function: ok, error or timeout.", "ops",
		q(rate(cold, sel, "outcome"), "{{outcome}}")).stacked())
	b.add(6, 8, timeseries("Cold-start ratio", "Cold starts per call.", "percentunit",
		q(rate(cold, sel, "")+" / "+rate(calls, sel, ""), "cold starts per call")))
	b.add(6, 8, timeseries("Cold-start duration", "Whole cold start (acquire + fetch + specialize): p50 and p95 by outcome.", "s",
		quantiles("lantern_function_cold_start_duration_seconds", sel, "outcome", 0.5, 0.95)...))
	b.add(6, 8, timeseries("Cold-start phases", "p95 of each phase: acquire an instance, fetch the code, specialize.", "s",
		quantiles("lantern_function_cold_start_phase_seconds", sel, "phase", 0.95)...))

	b.row("Instances")
	b.add(8, 8, timeseries("Instances by state", "Instances specialized for the function: specializing, ready, retiring.", "none",
		q(gauge(fnInst, sel, "state"), "{{state}}")).stacked())
	b.add(8, 8, timeseries("Instance lifetime", "How long the function's instances lived, observed when they go: p50 and p90.", "s",
		quantiles("lantern_function_alive_seconds", sel, "", 0.5, 0.9)...))
	b.add(8, 8, timeseries("Instances removed / s by reason", "Instances removed: idle, crash, timeout, deleted, updated, failed.", "ops",
		q(rate("lantern_poolmgr_reaps_total", sel, "reason"), "{{reason}}")).stacked())

	b.row("Responses")
	b.add(12, 8, timeseries("Response size", "Response body sizes: p50, p90 and p99.", "bytes",
		quantiles(size, sel, "")...))
	b.add(12, 8, timeseries("Response throughput", "Response bytes sent per second.", "Bps",
		q("sum(rate("+size+"_sum{"+sel+"}["+rateInterval+"]))", "bytes/s")))

	b.row("Triggers")
	b.add(12, 8, timeseries("Calls / s by trigger", "The function's calls by what triggered them: http (routes and /fn), timer, mqt (message queue triggers), async (queued calls), test.", "reqps",
		q(rate(calls, sel, "trigger"), "{{trigger}}")).stacked())
	b.add(12, 8, timeseries("Asynchronous calls / s", "Calls queued for the function, invocations finished by outcome (failed: after the last attempt, into the dead-letter list) and retries. 'lantern fn invocations --name $function' lists them.", "ops",
		q(rate("lantern_async_accepted_total", sel, ""), "accepted"),
		q(rate("lantern_async_invocations_total", sel, "outcome"), "{{outcome}}"),
		q(rate("lantern_async_retries_total", sel, ""), "retries"),
		q(rate("lantern_async_dead_letters_total", sel, ""), "dead letters")))

	// No logs row: the lantern_logs_* metrics have no namespace or
	// function label (see logs/metrics.go), so there is nothing per
	// function to draw. The overview's "Function logs" row has them.

	return d
}
