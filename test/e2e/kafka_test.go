package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMQT_Kafka runs a kafka message queue trigger in lanternd against
// franz-go's in-process Kafka cluster (no Kafka broker can be had on this
// machine): messages reach the function, answers the response topic, and
// a message that always fails the error topic after maxretries.
func TestMQT_Kafka(t *testing.T) {
	t.Parallel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	l := startAll(t, "--kafka-brokers", strings.Join(brokers, ","), "--mqt-retry-delay", "50ms")
	calls := recordFunction(t, l)
	l.mustLantern(t, "mqt", "create", "--name", "korders", "--function", "record", "--mqtype", "kafka", "--topic", "korders",
		"--resptopic", "korders.done", "--errortopic", "korders.failed", "--maxretries", "1")
	waitMQTReady(t, l, "korders")

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range []string{`{"id":"k1"}`, `{"id":"k2","fail":1}`, `{"id":"kbad","fail":-1}`} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "korders", Value: []byte(m)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 60*time.Second, 200*time.Millisecond, "kafka answers and failures", func() error {
		done, failed := readKafka(t, brokers, "korders.done"), readKafka(t, brokers, "korders.failed")
		if len(done) != 2 || len(failed) != 1 {
			return fmt.Errorf("answers %q, failures %q", done, failed)
		}
		if !strings.Contains(failed[0], "kbad") || !strings.Contains(failed[0], "status 500") {
			return fmt.Errorf("failure %q lacks the message or the reason", failed[0])
		}
		return nil
	})
	if a := attempts(t, calls); a["k1"] != 1 || a["k2"] != 2 || a["kbad"] != 2 {
		t.Errorf("calls per message %v, want k1 once, k2 twice, kbad twice (maxretries 1)", a)
	}
	// An unconfigured queue type is a visible status, not a crash.
	other := startAll(t)
	recordFunction(t, other)
	other.mustLantern(t, "mqt", "create", "--name", "nokafka", "--function", "record", "--mqtype", "kafka", "--topic", "x")
	eventually(t, 20*time.Second, 200*time.Millisecond, "not configured status", func() error {
		out, _, _ := other.lantern(t, "mqt", "get", "--name", "nokafka")
		if !strings.Contains(out, "no kafka broker is configured") || !strings.Contains(out, "--kafka-brokers") {
			return fmt.Errorf("mqt get:\n%s", out)
		}
		return nil
	})
}

// readKafka returns the records of topic, value and error header.
func readKafka(t *testing.T, brokers []string, topic string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			for _, h := range r.Headers {
				if h.Key == "Lantern-Error" {
					v += " | " + string(h.Value)
				}
			}
			out = append(out, v)
		})
		cancel()
	}
	return out
}
