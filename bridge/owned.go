package bridge

import (
	"strings"

	"github.com/paybridge/paybridge"
)

// ownedSubjects are the subjects the bridge publishes, stores or consumes
// on. The bridge answers a request by publishing to its reply subject with
// its own NATS permissions, which reach these: a reply on the status
// bucket's subject would overwrite a payment's record, one on the event
// subject would be stored as an event. So a request whose reply subject is
// one of them, lies under one, or starts with "$" (the JetStream, KV and
// system APIs) is refused, unanswered (docs/contract.md, "Reply
// subjects"). The NATS-native guard is the account layout of
// deploy/nats, where a reply can only reach the requester's account.
type ownedSubjects []string

func newOwnedSubjects(cfg Config) ownedSubjects {
	return ownedSubjects{cfg.CheckSubject, cfg.QueuedCheckSubject, cfg.StatusSubject, cfg.EventSubject, cfg.WatchExpiredSubject,
		cfg.WatchSubject, cfg.OutboxSubject}
}

// problem says why the bridge must not publish on reply: "" when it may
// (and for no reply at all).
func (o ownedSubjects) problem(reply string) string {
	switch {
	case reply == "":
		return ""
	case reply[0] == '$':
		return "starts with $ (a NATS API subject)"
	}
	if problem := paybridge.SubjectProblem(reply); problem != "" {
		return "is not a subject to publish on: it " + problem
	}
	for _, owned := range o {
		if reply == owned || strings.HasPrefix(reply, owned+".") {
			return "is the bridge's own subject " + owned
		}
	}
	return ""
}
