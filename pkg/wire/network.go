package wire

// Keys of Network.Opaque (NetworkConfigured), set by the parent's network and port drivers and read
// by the child.
const (
	// OpaqueDriver is the network driver's name (none, slirp4netns).
	OpaqueDriver = "driver"
	// OpaqueBuiltinFD is the child's fd of the builtin port driver's control socket, which follows
	// the child's activation sockets.
	OpaqueBuiltinFD = "builtin_fd"
	// OpaqueResolvConf and OpaqueHosts are files in the state directory to bind-mount over /etc's.
	OpaqueResolvConf = "resolv_conf"
	OpaqueHosts      = "hosts"
	// OpaqueIPv6Addr (with its prefix) and OpaqueIPv6Gateway configure IPv6 on Network.Dev.
	OpaqueIPv6Addr    = "ipv6_addr"
	OpaqueIPv6Gateway = "ipv6_gateway"
)
