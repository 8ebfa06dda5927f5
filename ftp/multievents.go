package ftp

// MultiEvents returns an Events that tells each of evs (nil ones left
// out) in turn: metrics, an xferlog and hooks side by side in
// Config.Events. The optional extensions (SessionEvents, CommandEvents,
// RefusalEvents) reach the members that have them. With one member it is
// that member; with none, nil.
func MultiEvents(evs ...Events) Events {
	m := &multiEvents{}
	for _, ev := range evs {
		if ev == nil {
			continue
		}
		m.all = append(m.all, ev)
		o := observersOf(ev)
		if o.sessions != nil {
			m.sessions = append(m.sessions, o.sessions)
		}
		if o.commands != nil {
			m.commands = append(m.commands, o.commands)
		}
		if o.refusals != nil {
			m.refusals = append(m.refusals, o.refusals)
		}
	}
	switch len(m.all) {
	case 0:
		return nil
	case 1:
		return m.all[0]
	}
	if len(m.commands) == 0 {
		// Without a member that wants them, commands are not timed.
		return multiNoCommands{m}
	}
	return m
}

type multiEvents struct {
	all      []Events
	sessions []SessionEvents
	commands []CommandEvents
	refusals []RefusalEvents
}

func (m *multiEvents) Login(e LoginEvent) {
	for _, ev := range m.all {
		ev.Login(e)
	}
}

func (m *multiEvents) TransferDone(e TransferEvent) {
	for _, ev := range m.all {
		ev.TransferDone(e)
	}
}

func (m *multiEvents) FileChanged(e FileEvent) {
	for _, ev := range m.all {
		ev.FileChanged(e)
	}
}

func (m *multiEvents) SessionOpened(i SessionInfo) {
	for _, ev := range m.sessions {
		ev.SessionOpened(i)
	}
}

func (m *multiEvents) SessionClosed(i SessionInfo) {
	for _, ev := range m.sessions {
		ev.SessionClosed(i)
	}
}

func (m *multiEvents) CommandDone(e CommandEvent) {
	for _, ev := range m.commands {
		ev.CommandDone(e)
	}
}

func (m *multiEvents) Refused(e RefusalEvent) {
	for _, ev := range m.refusals {
		ev.Refused(e)
	}
}

// multiNoCommands is a multiEvents without CommandDone.
type multiNoCommands struct{ m *multiEvents }

func (n multiNoCommands) Login(e LoginEvent)           { n.m.Login(e) }
func (n multiNoCommands) TransferDone(e TransferEvent) { n.m.TransferDone(e) }
func (n multiNoCommands) FileChanged(e FileEvent)      { n.m.FileChanged(e) }
func (n multiNoCommands) SessionOpened(i SessionInfo)  { n.m.SessionOpened(i) }
func (n multiNoCommands) SessionClosed(i SessionInfo)  { n.m.SessionClosed(i) }
func (n multiNoCommands) Refused(e RefusalEvent)       { n.m.Refused(e) }
