package main

const overviewUID = "lantern-overview"

// overview is the whole platform at a glance.
func overview() *Dashboard {
	d := base(overviewUID, "Lantern / Overview",
		"Lantern at a glance: component health, calls, errors, latency, cold starts, pools and instances, controller API, processes and the function-log pipeline.")
	b := newBoard(d)
	const (
		calls     = "lantern_function_calls_total"
		errs      = "lantern_function_errors_total"
		duration  = "lantern_function_duration_seconds"
		overhead  = "lantern_function_overhead_seconds"
		cold      = "lantern_function_cold_starts_total"
		coldDur   = "lantern_function_cold_start_duration_seconds"
		phase     = "lantern_function_cold_start_phase_seconds"
		fnInst    = "lantern_function_instances"
		alive     = "lantern_function_alive_seconds"
		nsFn      = "namespace, function"
		nsFnLabel = "{{namespace}}/{{function}}"
	)

	b.row("Health")
	b.add(6, 5, stat("Components up", "Prometheus's up for every Lantern job (lantern for lanternd all; lantern-controller, lantern-poolmgr, lantern-router, lantern-logger for separate roles).", "none",
		q("up{"+componentJobs+"}", "{{job}} {{instance}}")).upDown())
	b.add(4, 5, stat("Calls / s", "Calls through the router, all functions.", "reqps",
		q(rate(calls, "", ""), "calls/s")))
	b.add(4, 5, stat("Error ratio", "Share of calls answered with a status of 400 or more.", "percentunit",
		q("("+rate(errs, "", "")+" or vector(0)) / "+rate(calls, "", ""), "errors")).thresholds(0.01, "orange", 0.05, "red"))
	b.add(4, 5, stat("p99 call duration", "99th percentile of the whole call as the router sees it.", "s",
		q(histogramQuantile(0.99, duration, "", ""), "p99")).thresholds(1.0, "orange", 2.5, "red"))
	b.add(3, 5, stat("Specialized instances", "Instances specialized for a function, in any state.", "none",
		q(gauge(fnInst, "", "")+" or vector(0)", "instances")))
	b.add(3, 5, stat("Stored objects", "Objects in the controller's store.", "none",
		q(gauge("lantern_controller_objects", "", "kind"), "{{kind}}")))

	b.row("Calls")
	b.add(12, 8, timeseries("Calls / s by function", "Calls through the router per function. Click a series to open its function dashboard.", "reqps",
		q(rate(calls, "", nsFn), nsFnLabel)).linkToFunction())
	b.add(12, 8, timeseries("Error ratio by function", "Share of each function's calls answered with a status of 400 or more. Functions without errors are not drawn.", "percentunit",
		q(rate(errs, "", nsFn)+" / "+rate(calls, "", nsFn), nsFnLabel)).linkToFunction())
	b.add(12, 8, timeseries("Responses / s by status code", "All functions, by HTTP status code.", "reqps",
		q(rate(calls, "", "code"), "{{code}}")).stacked())
	b.add(12, 8, timeseries("In-flight calls", "Calls being served now, per function.", "none",
		q(gauge("lantern_router_requests_in_flight", "", nsFn), nsFnLabel)).linkToFunction())

	b.row("Latency")
	b.add(12, 8, timeseries("Call duration", "Whole call as the router sees it, to the end of the response: p50, p90 and p99 over all functions.", "s",
		quantiles(duration, "", "")...))
	b.add(12, 8, timeseries("Platform overhead", "Time the platform adds to a call (everything but waiting on the instance, cold starts included): p50, p90 and p99.", "s",
		quantiles(overhead, "", "")...))
	b.add(12, 8, timeseries("p99 call duration by function", "99th percentile of the call duration per function.", "s",
		q(histogramQuantile(0.99, duration, "", nsFn), nsFnLabel)).linkToFunction())
	b.add(12, 8, timeseries("Instance cache", "Calls served by an instance the router had cached (hits) and calls that waited for the poolmgr (misses).", "reqps",
		q(rate("lantern_router_instance_cache_hits_total", "", ""), "hits"),
		q(rate("lantern_router_instance_cache_misses_total", "", ""), "misses")))

	b.row("Cold starts")
	b.add(8, 8, timeseries("Cold starts / s by outcome", "Specializations of a generic instance for a function: ok, error or timeout.", "ops",
		q(rate(cold, "", "outcome"), "{{outcome}}")).stacked())
	b.add(8, 8, timeseries("Cold-start duration by environment", "Successful cold starts (acquire + fetch + specialize): p50 and p95 per environment.", "s",
		quantiles(coldDur, `outcome="ok"`, "environment", 0.5, 0.95)...))
	b.add(8, 8, timeseries("Cold-start ratio by function", "Cold starts per call.", "percentunit",
		q(rate(cold, "", nsFn)+" / "+rate(calls, "", nsFn), nsFnLabel)).linkToFunction())
	b.add(12, 8, timeseries("Cold-start phases", "p95 of each cold-start phase: acquire an instance, fetch the code, specialize.", "s",
		quantiles(phase, "", "phase", 0.95)...))
	b.add(12, 8, timeseries("Specialization failures / s", "Failed cold starts by function and the phase that failed.", "ops",
		q(rate("lantern_poolmgr_specialization_failures_total", "", "namespace, function, phase"), "{{namespace}}/{{function}} {{phase}}")).linkToFunction())

	b.row("Pools and instances")
	b.add(12, 8, timeseries("Pool occupancy", "Generic (unspecialized) instances per environment pool: idle, starting, and the configured size.", "none",
		q(gauge("lantern_pool_instances", `state="idle"`, "namespace, environment"), "idle {{namespace}}/{{environment}}"),
		q(gauge("lantern_pool_instances", `state="starting"`, "namespace, environment"), "starting {{namespace}}/{{environment}}"),
		q(gauge("lantern_pool_size", "", "namespace, environment"), "size {{namespace}}/{{environment}}")))
	b.add(12, 8, timeseries("Specialized instances by state", "Instances specialized for a function: specializing, ready, retiring.", "none",
		q(gauge(fnInst, "", "state"), "{{state}}")).stacked())
	b.add(12, 8, timeseries("Instances removed / s by reason", "Specialized instances removed: idle, crash, timeout, deleted, updated, failed.", "ops",
		q(rate("lantern_poolmgr_reaps_total", "", "reason"), "{{reason}}")).stacked())
	b.add(12, 8, timeseries("Instance lifetime", "How long specialized instances lived, observed when they go: p50 and p90 by reason.", "s",
		quantiles(alive, "", "reason", 0.5, 0.9)...))

	b.row("Timers and message queue triggers")
	b.add(8, 8, timeseries("Timer fires / s", "Ticks that called their function, by outcome (ok: status below 400), plus ticks skipped because the previous run was still going and ticks missed while lanternd was down.", "ops",
		q(rate("lantern_timer_fires_total", "", "outcome"), "{{outcome}}"),
		q(rate("lantern_timer_skipped_ticks_total", "", ""), "skipped"),
		q(rate("lantern_timer_missed_ticks_total", "", ""), "missed")))
	b.add(8, 8, timeseries("Timer jitter", "How late ticks fire after their scheduled time: p50 and p99.", "s",
		quantiles("lantern_timer_jitter_seconds", "", "", 0.5, 0.99)...))
	b.add(8, 8, timeseries("Queue triggers not ready", "Message queue triggers that cannot consume their topic (broker unreachable, not configured): see 'lantern mqt get'.", "none",
		q("count(lantern_mqt_trigger_ready == 0) or vector(0)", "not ready")))
	b.add(8, 8, timeseries("Messages / s by trigger", "Messages the function succeeded on (acknowledged) and failed on after every retry, per message queue trigger.", "ops",
		q(rate("lantern_mqt_messages_processed_total", "", "namespace, trigger"), "processed {{namespace}}/{{trigger}}"),
		q(rate("lantern_mqt_messages_failed_total", "", "namespace, trigger"), "failed {{namespace}}/{{trigger}}"),
		q(rate("lantern_mqt_message_retries_total", "", "namespace, trigger"), "retried {{namespace}}/{{trigger}}")))
	b.add(8, 8, timeseries("Consumer lag", "Messages of each trigger's topic not yet delivered to it. Growing: the function cannot keep up.", "short",
		q(gauge("lantern_mqt_consumer_lag_messages", "", "namespace, trigger"), "{{namespace}}/{{trigger}}")))
	b.add(8, 8, timeseries("Messages in flight", "Messages each trigger is handling now (at most --mqt-concurrency).", "short",
		q(gauge("lantern_mqt_messages_in_flight", "", "namespace, trigger"), "{{namespace}}/{{trigger}}")))

	b.row("Asynchronous calls")
	b.add(8, 8, timeseries("Async calls / s", "Calls queued, and invocations finished by outcome (failed: after the last attempt, into the dead-letter list).", "ops",
		q(rate("lantern_async_accepted_total", "", ""), "accepted"),
		q(rate("lantern_async_invocations_total", "", "outcome"), "{{outcome}}"),
		q(rate("lantern_async_retries_total", "", ""), "retries")))
	b.add(8, 8, timeseries("Async queue", "Unfinished calls in the queue (queued or running) and the age of the oldest. LanternAsyncQueueGrowing fires when the oldest call waits too long.", "short",
		q(gauge("lantern_async_queue_depth", "", ""), "depth"),
		q(gauge("lantern_async_oldest_queued_age_seconds", "", ""), "oldest age (s)")))
	b.add(8, 8, timeseries("Async accept latency", "Time to store a call durably before the 202: p50 and p99.", "s",
		quantiles("lantern_async_accept_duration_seconds", "", "", 0.5, 0.99)...))
	b.add(12, 8, timeseries("Dead letters / s by function", "Invocations that failed after their last attempt: list with 'lantern fn invocations --status failed', replay with 'lantern fn replay'.", "ops",
		q(rate("lantern_async_dead_letters_total", "", nsFn), nsFnLabel)).linkToFunction())
	b.add(12, 8, timeseries("Async calls running", "Asynchronous calls waiting on their function now (at most --async-concurrency).", "short",
		q(gauge("lantern_async_in_flight", "", ""), "running")))

	b.row("Controller API")
	b.add(8, 8, timeseries("API requests / s", "Controller API requests by route template, method and status code.", "reqps",
		q(rate("lantern_controller_api_requests_total", "", "route, method, code"), "{{method}} {{route}} {{code}}")))
	b.add(8, 8, timeseries("API latency p99", "99th percentile of controller API requests by route (watch streams are not timed).", "s",
		quantiles("lantern_controller_api_request_duration_seconds", "", "method, route", 0.99)...))
	b.add(8, 8, timeseries("Stored objects", "Objects in the controller's store by kind.", "none",
		q(gauge("lantern_controller_objects", "", "kind"), "{{kind}}")))

	b.row("Processes")
	b.add(8, 8, timeseries("Resident memory", "Resident memory of every Lantern process.", "bytes",
		q("process_resident_memory_bytes{"+componentJobs+"}", "{{job}} {{instance}}")))
	b.add(8, 8, timeseries("CPU", "CPU used by every Lantern process, in cores.", "short",
		q("rate(process_cpu_seconds_total{"+componentJobs+"}["+rateInterval+"])", "{{job}} {{instance}}")))
	b.add(8, 8, timeseries("Goroutines", "Goroutines of every Lantern process.", "none",
		q("go_goroutines{"+componentJobs+"}", "{{job}} {{instance}}")))

	// The function-log pipeline: Capture and Shipper run in the poolmgr
	// (lanternd all or poolmgr), the Collector in lanternd all or logger.
	// None of these metrics has a namespace or function label, so the
	// function dashboard has no logs panels.
	const (
		logDropped = "lantern_logs_dropped_total"
		logDelay   = "lantern_logs_ship_delay_seconds"
	)
	b.row("Function logs")
	b.add(8, 8, timeseries("Log lines / s", "Lines captured from instances' stdout and stderr, acknowledged by the collector (shipped), received by it and written to the log store. Captured minus written, lasting, means lines are dropped or held back.", "short",
		q(rate("lantern_logs_lines_captured_total", "", ""), "captured"),
		q(rate("lantern_logs_lines_shipped_total", "", ""), "shipped"),
		q(rate("lantern_logs_lines_received_total", "", ""), "received"),
		q(rate("lantern_logs_lines_written_total", "", ""), "written")))
	b.add(8, 8, timeseries("Dropped log lines / s by reason", "Lines lost: rate_limited (a function printed more than its rate limit, by default 1000 lines/s with a burst of 5000), too_long (the end of a line longer than 16 chunks of 64 KiB), buffer_full (a spool overflowed, or lines were unwritten at shutdown), rejected (the log store refused a batch for good). Any drop fires LanternLogLinesDropped.", "short",
		q(rate(logDropped, "", "reason"), "{{reason}}")).stacked())
	b.add(8, 8, timeseries("Ship delay", "Time from capture to hand-off to the forward-protocol client: p50 and p99. LanternLogShipDelayHigh fires when p99 stays over 5 s.", "s",
		quantiles(logDelay, "", "", 0.5, 0.99)...))
	b.add(6, 8, timeseries("Shipper buffer fill", "How full the log shippers' buffers are (the fullest poolmgr's): memory is the in-memory queue, which spills to spool, the disk spool; a full spool drops its oldest lines as buffer_full.", "percentunit",
		q("max by (buffer) (lantern_logs_buffer_fill_ratio)", "{{buffer}}")))
	b.add(6, 8, timeseries("Collector pending lines", "Lines received by the collector and not yet written to the store. Growing: the store is slow or failing.", "short",
		q(gauge("lantern_logs_collector_pending_lines", "", ""), "pending")))
	b.add(6, 8, timeseries("Log store write errors / s", "Failed writes to the log store (embedded or InfluxDB), each retry counted. The collector retries until the store takes the batch; LanternLogWriteErrors fires when writes keep failing.", "short",
		q(rate("lantern_logs_write_errors_total", "", ""), "write errors")))
	b.add(6, 8, timeseries("Spooled and duplicate lines / s", "Lines the shipper put in its disk spool because the collector was unreachable or slow, and resent lines the collector dropped as already seen.", "short",
		q(rate("lantern_logs_lines_spooled_total", "", ""), "spooled"),
		q(rate("lantern_logs_duplicates_total", "", ""), "duplicates")))

	return d
}
