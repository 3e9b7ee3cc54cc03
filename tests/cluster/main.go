// Command testcluster is the project's test control plane: a real kube-apiserver, an
// embedded etcd and a kube-controller-manager, all from the Kubernetes Go modules, on
// 127.0.0.1 with a private PKI.
//
//	testcluster up --dir DIR [--parent-pid PID]
//
// starts etcd in this process and the API server and controller manager as child
// processes of this same binary (`testcluster kube-apiserver ...`,
// `testcluster kube-controller-manager ...`), writes DIR/kubeconfig (cluster admin) and
// DIR/env, prints "ready <kubeconfig>" on stdout once /readyz answers, and runs until
// SIGTERM/SIGINT or until the process named by --parent-pid is gone; then it stops the
// children and etcd. Everything it starts is ended by its PID.
package main

import (
	"fmt"
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testcluster up --dir DIR [--parent-pid PID] | kube-apiserver ... | kube-controller-manager ...")
		os.Exit(2)
	}
	sub, rest := os.Args[1], os.Args[2:]
	switch sub {
	case "up":
		if err := up(rest); err != nil {
			fmt.Fprintln(os.Stderr, "testcluster:", err)
			os.Exit(1)
		}
	case "kube-apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "kube-controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	default:
		fmt.Fprintf(os.Stderr, "testcluster: unknown command %q\n", sub)
		os.Exit(2)
	}
}
