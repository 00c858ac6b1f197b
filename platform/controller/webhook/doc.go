// Package webhook is the controller's validating admission webhook for the
// Kubernetes backend: the API server sends it every create, update and
// delete of Lantern's custom resources (an AdmissionReview, from kubectl
// or any other client), and it answers with the controller's own rules, so
// that kubectl is refused what the REST API refuses, with the same
// message: a function whose environment is missing, a trigger whose
// function is missing, a bad cron expression, the deletion of an
// environment functions use or of a function triggers call.
//
// It holds no rules of its own: a Reviewer (the controller) applies them
// to the object decoded by kubestore.APICodec, the store's own mapping of a
// custom resource to an API object. It must not import poolmgr, router or
// fetcher.
package webhook
