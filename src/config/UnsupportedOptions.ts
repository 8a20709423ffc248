/**
 * mosquitto 2.x options that mqttd does not implement, in one table, so that a mosquitto.conf
 * brought over from another machine gets "a mosquitto option that mqttd does not support"
 * (with what to do instead) rather than a vague "unknown option".
 */

export interface UnsupportedOption {
  name: string;
  /** What to do instead, shown after the error. */
  hint?: string;
  /** A value that asks for what mqttd does anyway, so the line is accepted and ignored. */
  harmlessValue?: string;
}

export const UNSUPPORTED_OPTIONS: readonly UnsupportedOption[] = [
  { name: 'accept_protocol_versions', hint: 'mqttd accepts MQTT 3.1, 3.1.1 and 5 on every listener' },
  {
    name: 'allow_duplicate_messages',
    harmlessValue: 'false',
    hint: 'a v3 client gets one copy of a message matching several of its subscriptions, as mosquitto 2.0 does by default; a v5 client gets one per subscription',
  },
  { name: 'auth_plugin', hint: 'use password_file and acl_file' },
  { name: 'auth_plugin_deny_special_chars', hint: 'mqttd has no plugins' },
  { name: 'autosave_on_changes', hint: 'use autosave_interval (seconds)' },
  { name: 'bridge_alpn' },
  { name: 'bridge_attempt_unsubscribe' },
  { name: 'bridge_bind_address' },
  { name: 'bridge_ciphers' },
  { name: 'bridge_ciphers_tls1.3' },
  { name: 'bridge_identity', hint: 'TLS-PSK is not supported; use bridge_cafile with certificates' },
  { name: 'bridge_max_packet_size' },
  { name: 'bridge_max_topic_alias' },
  { name: 'bridge_psk', hint: 'TLS-PSK is not supported; use bridge_cafile with certificates' },
  { name: 'bridge_receive_maximum' },
  { name: 'bridge_reload_type' },
  { name: 'bridge_require_ocsp' },
  { name: 'bridge_session_expiry_interval' },
  { name: 'bridge_tcp_keepalive' },
  { name: 'bridge_tcp_user_timeout' },
  { name: 'bridge_tls_version' },
  { name: 'check_retain_source' },
  { name: 'ciphers', hint: "mqttd uses Node's default TLS cipher list" },
  { name: 'ciphers_tls1.3', hint: "mqttd uses Node's default TLS cipher list" },
  { name: 'clientid_prefixes', hint: 'use an acl_file' },
  { name: 'connection_messages', harmlessValue: 'true', hint: 'only the default, true, is accepted' },
  { name: 'crlfile' },
  { name: 'dhparamfile' },
  { name: 'disable_client_cert_date_checks' },
  { name: 'enable_control_api' },
  { name: 'global_max_clients', hint: 'use global_max_connections' },
  { name: 'global_plugin', hint: 'use password_file and acl_file' },
  { name: 'http_dir', hint: 'mqttd serves no files over HTTP' },
  { name: 'idle_timeout', hint: 'only start_type automatic bridges are supported' },
  { name: 'local_cleansession' },
  { name: 'local_password' },
  { name: 'local_username' },
  { name: 'log_facility', hint: 'mqttd logs to syslog as facility daemon' },
  { name: 'log_timestamp_format' },
  { name: 'max_inflight_bytes' },
  { name: 'max_qos' },
  { name: 'max_topic_alias' },
  { name: 'max_topic_alias_broker' },
  { name: 'maximum_qos' },
  { name: 'notifications_local_only' },
  { name: 'per_listener_settings', harmlessValue: 'false', hint: 'mqttd applies security settings to all listeners' },
  { name: 'plugin', hint: 'use password_file and acl_file' },
  { name: 'psk_file', hint: 'TLS-PSK is not supported; use certfile and keyfile' },
  { name: 'psk_hint', hint: 'TLS-PSK is not supported; use certfile and keyfile' },
  { name: 'quic_log_level' },
  { name: 'retry_interval', hint: 'mosquitto 2.0 ignores it too; remove the line' },
  { name: 'set_tcp_nodelay' },
  { name: 'threshold' },
  { name: 'tls_engine' },
  { name: 'tls_engine_kpass_sha1' },
  { name: 'tls_keyform' },
  { name: 'use_subject_as_username', hint: 'use use_identity_as_username' },
  { name: 'use_username_as_clientid' },
  { name: 'websockets_headers_size' },
  { name: 'websockets_log_level' },
  { name: 'websockets_origin' },
];

/** mosquitto passes `auth_opt_*` / `plugin_opt_*` lines to plugins, which mqttd does not have. */
export const UNSUPPORTED_PREFIXES: readonly string[] = ['auth_opt_', 'plugin_opt_'];

const byName = new Map(UNSUPPORTED_OPTIONS.map((o) => [o.name, o]));

export function findUnsupportedOption(name: string): UnsupportedOption | undefined {
  const found = byName.get(name);
  if (found) return found;
  const prefix = UNSUPPORTED_PREFIXES.find((p) => name.startsWith(p));
  return prefix === undefined ? undefined : { name, hint: 'mqttd has no plugins' };
}
