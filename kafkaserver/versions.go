package kafkaserver

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// API keys the connection code refers to.
const (
	apiVersionsKey      int16 = 18
	saslHandshakeKey    int16 = 17
	saslAuthenticateKey int16 = 36

	// apiVersionsMax is the highest ApiVersions version served: v4 and
	// v5 answer as v3 does.
	apiVersionsMax = 5
)

// api is a request kind the server answers, with the versions it handles.
type api struct {
	key      int16
	min, max int16
	handle   func(*conn, *request) (kmsg.Response, error)
}

// supportedAPIs lists, by key, what ApiVersions advertises and what the
// server answers. A request of another version closes the connection.
// The package documentation has the same table; keep them together.
func supportedAPIs() []api {
	return []api{
		{0, 3, 11, (*conn).handleProduce},                          // RecordBatch v2 only; v12 (KIP-890) and v13 (topic IDs) not
		{1, fetchMinVersion, fetchMaxVersion, (*conn).handleFetch}, // v13+ address topics by ID, which the log does not have
		{2, 1, 6, (*conn).handleListOffsets},                       // v7 (max timestamp) not
		{3, 1, 12, (*conn).handleMetadata},                         // topic IDs are zero
		{8, 2, 8, (*conn).handleOffsetCommit},                      // v9 is KIP-848's consumer protocol
		{9, 1, 8, (*conn).handleOffsetFetch},                       // v8 batches groups
		{10, 0, 4, (*conn).handleFindCoordinator},                  // v4 batches keys
		{11, 0, 9, (*conn).handleJoinGroup},
		{12, 0, 4, (*conn).handleHeartbeat},
		{13, 0, 5, (*conn).handleLeaveGroup},
		{14, 0, 5, (*conn).handleSyncGroup},
		{15, 0, 5, (*conn).handleDescribeGroups},
		{16, 0, 4, (*conn).handleListGroups},
		{17, 1, 1, (*conn).handleSASLHandshake}, // v0's unframed tokens not
		{18, 0, apiVersionsMax, nil},            // handled before dispatch
		{19, 0, 6, (*conn).handleCreateTopics},  // v7 returns topic IDs
		{20, 0, 5, (*conn).handleDeleteTopics},  // v6 deletes by topic ID
		{21, 0, 2, (*conn).handleDeleteRecords},
		{22, 0, 4, (*conn).handleInitProducerID},
		{32, 0, 4, (*conn).handleDescribeConfigs},
		{33, 0, 2, (*conn).handleAlterConfigs},
		{36, 0, 2, (*conn).handleSASLAuthenticate},
		{37, 0, 3, (*conn).handleCreatePartitions},
		{42, 0, 2, (*conn).handleDeleteGroups},
		{44, 0, 1, (*conn).handleIncrementalAlterConfigs},
	}
}

// api returns the supported API of a key.
func (s *Server) api(key int16) (api, bool) {
	for _, a := range s.apis {
		if a.key == key {
			return a, true
		}
	}
	return api{}, false
}

// handleAPIVersions answers ApiVersions. A version it does not know,
// negative ones included, is answered in version 0 with UNSUPPORTED_VERSION and the versions of
// ApiVersions served, so that the client can retry with one of them
// (KIP-511), as Kafka's broker answers it.
func (c *conn) handleAPIVersions(req *request) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	if req.version < 0 || req.version > apiVersionsMax {
		req.version = 0
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = apiVersionsKey, 0, apiVersionsMax
		resp.ApiKeys = append(resp.ApiKeys, k)
		return resp
	}
	if r, ok := req.kreq.(*kmsg.ApiVersionsRequest); ok && req.version >= 3 &&
		(!validSoftwareName(r.ClientSoftwareName) || !validSoftwareName(r.ClientSoftwareVersion)) {
		// As Kafka's broker answers it: no APIs.
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	for _, a := range c.s.apis {
		if a.key == saslHandshakeKey || a.key == saslAuthenticateKey {
			if c.s.opts.SASLPlain == nil {
				continue
			}
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}

// validSoftwareName reports whether s is a client software name or
// version as Kafka takes them in ApiVersions v3+ (KIP-511): a letter or
// digit, then letters, digits, '.' and '-', ending in a letter or digit.
func validSoftwareName(s string) bool {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !alnum(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}
