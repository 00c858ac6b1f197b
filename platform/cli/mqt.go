package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

func (a *app) newMQTCmd() *cobra.Command {
	cmd := newGroupCmd("mqt", []string{"mqtrigger", "messagequeuetrigger"}, "Manage message queue triggers: functions called for every message of a topic")
	cmd.AddCommand(
		a.newMQTCreateCmd(),
		a.newMQTGetCmd(),
		a.newMQTListCmd(),
		a.newMQTUpdateCmd(),
		a.newMQTDeleteCmd(),
	)
	return cmd
}

// mqtFlags are the flags of mqt create and mqt update.
type mqtFlags struct {
	name        string
	function    string
	mqtype      string
	mqtkind     string
	topic       string
	respTopic   string
	errorTopic  string
	maxRetries  int
	contentType string
}

func (f *mqtFlags) objectName() string { return f.name }

func (f *mqtFlags) register(cmd *cobra.Command, create bool) {
	what := "trigger (default <function>-<random>)"
	if !create {
		what = "trigger"
	}
	nameFlag(cmd, &f.name, what, !create)
	fl := cmd.Flags()
	fl.StringVar(&f.function, "function", "", "function called for each message")
	fl.StringVar(&f.mqtype, "mqtype", api.MQTypeNATS, "message queue type: "+strings.Join(api.MQTypes, ", "))
	fl.StringVar(&f.topic, "topic", "", "topic (NATS subject) consumed")
	fl.StringVar(&f.respTopic, "resptopic", "", "topic the function's answers are published to")
	fl.StringVar(&f.errorTopic, "errortopic", "", "topic messages go to, with the reason, when the function failed on them after every retry")
	fl.IntVar(&f.maxRetries, "maxretries", api.DefaultMQMaxRetries, "retries of a message the function failed on")
	fl.StringVar(&f.contentType, "contenttype", api.DefaultMQContentType, "Content-Type of the calls")
	// Fission's --mqtkind (fission or keda) has no meaning here.
	fl.StringVar(&f.mqtkind, "mqtkind", "", "accepted for Fission compatibility; ignored")
	_ = fl.MarkHidden("mqtkind")
	if create {
		_ = cmd.MarkFlagRequired("function")
		_ = cmd.MarkFlagRequired("topic")
	}
}

// apply copies the flags to s: all, or those given when onlyChanged is set.
func (f *mqtFlags) apply(cmd *cobra.Command, s *api.MessageQueueTriggerSpec, onlyChanged bool) {
	set := func(name string) bool { return !onlyChanged || cmd.Flags().Changed(name) }
	if set("function") {
		s.FunctionRef = api.FunctionRef{Type: "name", Name: f.function}
	}
	if set("mqtype") {
		s.MessageQueueType = f.mqtype
	}
	if set("topic") {
		s.Topic = f.topic
	}
	if set("resptopic") {
		s.RespTopic = f.respTopic
	}
	if set("errortopic") {
		s.ErrorTopic = f.errorTopic
	}
	if set("maxretries") {
		n := f.maxRetries
		s.MaxRetries = &n
	}
	if set("contenttype") {
		s.ContentType = f.contentType
	}
}

func (a *app) newMQTCreateCmd() *cobra.Command {
	var f mqtFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Call a function for every message of a topic",
		Example: `  lantern mqt create --name orders --function process --mqtype nats --topic orders --resptopic orders.done --errortopic orders.failed
  lantern mqt create --function audit --topic events --maxretries 0`,
		Args: noArgs,
	}
	f.register(cmd, true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		name := f.name
		if name == "" {
			name = f.function + "-" + randomSuffix(6)
		}
		t := &api.MessageQueueTrigger{Kind: api.KindMessageQueueTrigger, Metadata: api.Metadata{Name: name, Namespace: a.namespace}}
		f.apply(cmd, &t.Spec, false)
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		if err := a.controller().Create(ctx, t); err != nil {
			return a.explain(err, "create", "message queue trigger", name)
		}
		return a.done(t, "message queue trigger %s created: %s topic %s -> function %s", quote(t.Metadata.Name),
			t.Spec.MessageQueueType, quote(t.Spec.Topic), quote(t.Spec.FunctionRef.Name))
	})
	return cmd
}

func (a *app) newMQTUpdateCmd() *cobra.Command {
	return newUpdateCmd(a, &mqtFlags{}, "message queue trigger", "Change a message queue trigger; only the flags given are changed",
		`  lantern mqt update --name orders --maxretries 5 --errortopic orders.dead`,
		func(t *api.MessageQueueTrigger) *api.MessageQueueTriggerSpec { return &t.Spec })
}

func (a *app) newMQTGetCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{Use: "get", Short: "Show a message queue trigger and its status", Args: noArgs}
	nameFlag(cmd, &name, "trigger", true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		c := a.controller()
		t := &api.MessageQueueTrigger{}
		if err := c.Get(ctx, a.namespace, name, t); err != nil {
			return a.explain(err, "get", "message queue trigger", name)
		}
		status := "unknown (the mqtrigger role serves it on its --metrics-addr)"
		if sts, err := c.MQTriggerStatuses(ctx); err == nil {
			status = "not picked up yet"
			for _, s := range sts {
				if s.Namespace == t.Metadata.Namespace && s.Name == t.Metadata.Name {
					status = "ready"
					if !s.Ready {
						status = "not ready: " + s.Message
					}
				}
			}
		}
		return a.print(t, func(tb *table) {
			s := &t.Spec
			tb.details([]field{
				{"Name", t.Metadata.Name},
				{"Namespace", t.Metadata.Namespace},
				{"Type", s.MessageQueueType},
				{"Topic", s.Topic},
				{"Response topic", orDash(s.RespTopic)},
				{"Error topic", orDash(s.ErrorTopic)},
				{"Max retries", strconv.Itoa(s.Retries())},
				{"Content type", s.ContentType},
				{"Function", s.FunctionRef.Name},
				{"Status", status},
				{"Resource version", t.Metadata.ResourceVersion},
				{"Created", a.timestamp(t.Metadata.CreatedAt)},
				{"Updated", a.timestamp(t.Metadata.UpdatedAt)},
			})
		})
	})
	return cmd
}

func (a *app) newMQTListCmd() *cobra.Command {
	return newListCmd(a, "List message queue triggers", (*client.Controller).ListMessageQueueTriggers,
		[]string{"NAME", "TYPE", "TOPIC", "RESPTOPIC", "ERRORTOPIC", "RETRIES", "FUNCTION", "AGE"},
		func(t *api.MessageQueueTrigger) []string {
			s := &t.Spec
			return []string{t.Metadata.Name, s.MessageQueueType, s.Topic, orDash(s.RespTopic), orDash(s.ErrorTopic),
				fmt.Sprint(s.Retries()), s.FunctionRef.Name, age(a.now(), t.Metadata.CreatedAt)}
		})
}

func (a *app) newMQTDeleteCmd() *cobra.Command {
	return newDeleteCmd(a, api.KindMessageQueueTrigger, "Delete a message queue trigger", "trigger", "message queue trigger", "message queue trigger")
}
