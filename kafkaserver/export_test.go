package kafkaserver

// RemoteMembers returns how many remote group members s keeps.
func RemoteMembers(s *Server) int { return s.members.len() }
