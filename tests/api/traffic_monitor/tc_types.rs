//! Traffic Control's Go types that decode Traffic Monitor's endpoints,
//! field by field in declaration order (JSON name, Go type, omitempty), as
//! `go_json` reads them. Each names the file of apache/trafficcontrol it
//! is taken from.

use super::go_json::Go::{self, *};

/// `lib/go-tc/crstates.go`: `IsAvailable` (`DirectlyPolled` is `json:"-"`).
const IS_AVAILABLE: Go = Struct(&[
    ("isAvailable", Bool, false),
    ("ipv4Available", Bool, false),
    ("ipv6Available", Bool, false),
    ("status", Str, false),
    ("lastPoll", Time, false),
]);

/// `lib/go-tc/crstates.go`: `CRStatesDeliveryService`.
const CRSTATES_DS: Go = Struct(&[
    ("disabledLocations", Slice(&Str), false),
    ("isAvailable", Bool, false),
]);

/// `lib/go-tc/crstates.go`: `CRStates` (`/publish/CrStates`).
pub(super) const CRSTATES: Go = Struct(&[
    ("caches", Map(&IS_AVAILABLE), false),
    ("deliveryServices", Map(&CRSTATES_DS), false),
]);

/// `traffic_monitor/datareq/stat.go`: `Stats`, with its `,string` tags.
const STATS: Go = Struct(&[
    ("Max Memory (MB)", QuotedUint(64), false),
    ("git-revision", Str, false),
    ("Error Count", QuotedUint(64), false),
    ("uptime", QuotedUint(64), false),
    ("Free Memory (MB)", QuotedUint(64), false),
    ("Total Memory (MB)", QuotedUint(64), false),
    ("version", Str, false),
    ("deploy-dir", Str, false),
    ("Fetch Count", QuotedUint(64), false),
    ("Query Interval Delta", QuotedInt(64), false),
    ("Iteration Count", QuotedUint(64), false),
    ("name", Str, false),
    ("buildTimestamp", Str, false),
    ("Query Interval Target", QuotedInt(64), false),
    ("Query Interval Actual", QuotedInt(64), false),
    ("Slowest Cache", Str, false),
    ("Last Query Interval", QuotedInt(64), false),
    ("Goroutines", Int(64), false),
    ("Last Garbage Collection", Str, false),
    ("Memory Bytes Allocated", Uint(64), false),
    ("Total Bytes Allocated", Uint(64), false),
    ("System Bytes Allocated", Uint(64), false),
    ("Oldest Polled Peer", Str, false),
    ("Oldest Polled Peer Time (ms)", Int(64), false),
    ("Query Interval 95th Percentile (ms)", Int(64), false),
    ("gc-cpu-fraction", Float, false),
]);

/// `traffic_monitor/datareq/stat.go`: `JSONStats` (`/publish/Stats`).
pub(super) const JSON_STATS: Go = Struct(&[("stats", STATS, false)]);

/// `traffic_monitor/health/event.go`: `Event` (`Time` is `health.Time`).
const EVENT: Go = Struct(&[
    ("time", UnixTime, false),
    ("index", Uint(64), false),
    ("description", Str, false),
    ("name", Str, false),
    ("hostname", Str, false),
    ("type", Str, false),
    ("isAvailable", Bool, false),
    ("ipv4Available", Bool, false),
    ("ipv6Available", Bool, false),
]);

/// `traffic_monitor/datareq/eventlog.go`: `JSONEvents` (`/publish/EventLog`).
pub(super) const JSON_EVENTS: Go = Struct(&[("events", Slice(&EVENT), false)]);

/// `traffic_monitor/datareq/cachestate.go`: `CacheInterfaceStatus`.
const CACHE_INTERFACE_STATUS: Go = Struct(&[
    ("status", Str, false),
    ("status_poller", Str, false),
    ("bandwidth_kbps", Float, false),
    ("available", Bool, false),
]);

/// `traffic_monitor/datareq/cachestate.go`: `CacheStatus`; every pointer is
/// set by `createCacheStatuses`, so every field is written.
const CACHE_STATUS: Go = Struct(&[
    ("type", Ptr(&Str), false),
    ("load_average", Ptr(&Float), false),
    ("query_time_ms", Ptr(&Int(64)), false),
    ("health_time_ms", Ptr(&Int(64)), false),
    ("stat_time_ms", Ptr(&Int(64)), false),
    ("stat_span_ms", Ptr(&Int(64)), false),
    ("health_span_ms", Ptr(&Int(64)), false),
    ("status", Ptr(&Str), false),
    ("status_poller", Ptr(&Str), false),
    ("bandwidth_kbps", Ptr(&Float), false),
    ("bandwidth_capacity_kbps", Ptr(&Float), false),
    ("connection_count", Ptr(&Int(64)), false),
    ("ipv4_available", Ptr(&Bool), false),
    ("ipv6_available", Ptr(&Bool), false),
    ("combined_available", Ptr(&Bool), false),
    ("interfaces", Ptr(&Map(&CACHE_INTERFACE_STATUS)), false),
]);

/// `/api/cache-statuses`: `map[tc.CacheName]datareq.CacheStatus` (tmclient).
pub(super) const CACHE_STATUSES: Go = Map(&CACHE_STATUS);

/// `lib/go-tc/crconfig.go`: `CRConfigStats` (every field a pointer, omitempty).
const CRCONFIG_STATS: Go = Struct(&[
    ("CDN_name", Ptr(&Str), true),
    ("date", Ptr(&Int(64)), true),
    ("tm_host", Ptr(&Str), true),
    ("tm_path", Ptr(&Str), true),
    ("tm_user", Ptr(&Str), true),
    ("tm_version", Ptr(&Str), true),
]);

/// `traffic_monitor/towrap/towrap.go`: `CRConfigStat` (`Err` is an `error`).
const CRCONFIG_STAT: Go = Struct(&[
    ("error", ErrorIface, false),
    ("request_address", Str, false),
    ("request_time", Time, false),
    ("stats", CRCONFIG_STATS, false),
]);

/// `/api/crconfig-history`: `[]towrap.CRConfigStat` (tmclient).
pub(super) const CRCONFIG_HISTORY: Go = Slice(&CRCONFIG_STAT);

/// `lib/go-tc/servers.go`: `ServerIPAddress`.
const SERVER_IP_ADDRESS: Go = Struct(&[
    ("address", Str, false),
    ("gateway", Ptr(&Str), false),
    ("serviceAddress", Bool, false),
]);

/// `lib/go-tc/servers.go`: `ServerInterfaceInfo`.
const SERVER_INTERFACE_INFO: Go = Struct(&[
    ("ipAddresses", Slice(&SERVER_IP_ADDRESS), false),
    ("maxBandwidth", Ptr(&Uint(64)), false),
    ("monitor", Bool, false),
    ("mtu", Ptr(&Uint(64)), false),
    ("name", Str, false),
]);

/// `lib/go-tc/traffic_router.go`: `TrafficServer`.
const TRAFFIC_SERVER: Go = Struct(&[
    ("cachegroup", Str, false),
    ("deliveryServices", Slice(&Any), true),
    ("fqdn", Str, false),
    ("hashId", Str, false),
    ("hostName", Str, false),
    ("httpsPort", Int(64), true),
    ("interfaces", Slice(&SERVER_INTERFACE_INFO), false),
    ("port", Int(64), false),
    ("profile", Str, false),
    ("status", Str, false),
    ("type", Str, false),
]);

/// `lib/go-tc/traffic_monitor.go`: `TMCacheGroup`.
const TM_CACHE_GROUP: Go = Struct(&[
    ("name", Str, false),
    (
        "coordinates",
        Struct(&[("latitude", Float, false), ("longitude", Float, false)]),
        false,
    ),
]);

/// `lib/go-tc/traffic_monitor.go`: `TrafficMonitor`.
const TRAFFIC_MONITOR: Go = Struct(&[
    ("port", Int(64), false),
    ("ip6", Str, false),
    ("ip", Str, false),
    ("hostName", Str, false),
    ("fqdn", Str, false),
    ("profile", Str, false),
    ("cachegroup", Str, false),
    ("status", Str, false),
]);

/// `lib/go-tc/traffic_monitor.go`: `TMDeliveryService`.
const TM_DELIVERY_SERVICE: Go = Struct(&[
    ("xmlId", Str, false),
    ("TotalTpsThreshold", Int(64), false),
    ("status", Str, false),
    ("TotalKbpsThreshold", Int(64), false),
    ("topology", Str, false),
    ("type", Str, false),
    ("hostRegexes", Slice(&Str), true),
]);

/// `lib/go-tc/traffic_monitor.go`: `TMParameters` as jsoniter writes it;
/// its `UnmarshalJSON` wants numbers for the timeout and history count and
/// strings for the polling keys (the same checks).
const TM_PARAMETERS: Go = Struct(&[
    ("health.connection.timeout", Float, false),
    ("health.polling.url", Str, false),
    ("health.polling.format", Str, false),
    ("health.polling.type", Str, false),
    ("history.count", Float, false),
    ("MinFreeKbps", Int(64), false),
    ("health_threshold", Any, true),
]);

/// `lib/go-tc/traffic_monitor.go`: `TMProfile`.
const TM_PROFILE: Go = Struct(&[
    ("parameters", TM_PARAMETERS, false),
    ("name", Str, false),
    ("type", Str, false),
]);

/// `lib/go-tc/traffic_monitor.go`: `TrafficMonitorConfigMap`
/// (`/api/monitor-config`; no tags, so Go's field names).
pub(super) const MONITOR_CONFIG: Go = Struct(&[
    ("TrafficServer", Map(&TRAFFIC_SERVER), false),
    ("CacheGroup", Map(&TM_CACHE_GROUP), false),
    ("Config", Map(&Any), false),
    ("TrafficMonitor", Map(&TRAFFIC_MONITOR), false),
    ("DeliveryService", Map(&TM_DELIVERY_SERVICE), false),
    ("Profile", Map(&TM_PROFILE), false),
    ("Topology", Map(&Any), false),
]);

/// `traffic_monitor/handler/handler.go`: `OpsConfig` (`/publish/ConfigDoc`).
pub(super) const OPS_CONFIG: Go = Struct(&[
    ("cdnName", Str, false),
    ("certFile", Str, false),
    ("httpListener", Str, false),
    ("httpsListener", Str, false),
    ("insecure", Bool, false),
    ("keyFile", Str, false),
    ("password", Str, false),
    ("url", Str, false),
    ("username", Str, false),
    ("usingDummyTO", Bool, false),
]);
