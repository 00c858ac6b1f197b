package kubenode

import (
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestUserOf(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	yes := func() *bool { b := true; return &b }
	tests := []struct {
		name    string
		pod     *corev1.PodSecurityContext
		ctr     *corev1.SecurityContext
		want    *syscall.Credential
		wantErr string
	}{
		{name: "NoUser"},
		{name: "Chart", pod: &corev1.PodSecurityContext{RunAsNonRoot: yes(), RunAsUser: i64(65532), FSGroup: i64(65532)},
			want: &syscall.Credential{Uid: 65532, Groups: []uint32{65532}}},
		{name: "ContainerWins", pod: &corev1.PodSecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(1000)},
			ctr: &corev1.SecurityContext{RunAsUser: i64(2000)}, want: &syscall.Credential{Uid: 2000, Gid: 1000}},
		{name: "NonRootWithoutUser", pod: &corev1.PodSecurityContext{RunAsNonRoot: yes()}, wantErr: "runAsNonRoot"},
		{name: "NonRootAsRoot", ctr: &corev1.SecurityContext{RunAsNonRoot: yes(), RunAsUser: i64(0)}, wantErr: "runAsNonRoot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: tt.pod}}
			got, err := userOf(pod, corev1.Container{Name: "c", SecurityContext: tt.ctr})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("userOf: got %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("userOf (-want +got):\n%s", diff)
			}
		})
	}
}
