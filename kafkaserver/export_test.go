package kafkaserver

// RemoteMembers returns how many remote group members s keeps.
func RemoteMembers(s *Server) int { return s.members.len() }

// SetFetchWaitHook makes every Fetch that is about to wait for records
// call hook first; nil removes it. Set it before the Server's goroutines
// start, and remove it once they ended.
func SetFetchWaitHook(hook func()) { fetchWaitHook = hook }

// SetAlterConfigsHook makes every alteration of a topic's settings call
// hook with "start" when it starts, before it waits for anything, and
// with "held" once it has read the settings it changes, while the Log
// holds off every other change of the topic; nil removes it. Set it
// before the Server's goroutines start, and remove it once they ended.
func SetAlterConfigsHook(hook func(event string)) { alterConfigsHook = hook }
