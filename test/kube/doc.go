// Package kube tests Lantern on a real Kubernetes API: etcd and
// kube-apiserver built by test/tools/kube.sh (make tools), started on
// loopback, Lantern's CRDs applied from charts/lantern/crds, and
// `lanternd all --backend kubernetes` keeping its state there (instances
// still run as local processes). The lantern CLI, kubectl and the router
// are used as a user would. TestPods and TestChartRuns start clusters of
// their own with the test node (test/kubenode); TestChartRuns also runs
// kube-controller-manager and installs the chart with helm.
package kube
