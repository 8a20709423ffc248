/**
 * The accepted range of each integer option that both config formats have: mosquitto.conf
 * (ConfigOptions) and /etc/config/mqttd (UciConfig) read it from here, so an option cannot
 * take a value in one format that the other refuses.
 */
export const INT_MAX = 2_147_483_647;
/** MQTT's largest Remaining Length [MQTT-2.2.3]. */
const MQTT_MAX_PAYLOAD = 268_435_455;

export const INTEGER_RANGES = {
  password_check_concurrency: [1, 64],
  password_check_queue: [0, 65535],
  autosave_interval: [0, INT_MAX],
  max_persistent_sessions: [0, INT_MAX],
  /** -1: no limit. */
  max_connections: [-1, INT_MAX],
  message_size_limit: [0, MQTT_MAX_PAYLOAD],
  /** A CONNECT needs 20 bytes or so; UCI also takes 0 (MQTT's own limit: UCI has no way to unset a default). */
  max_packet_size: [20, MQTT_MAX_PAYLOAD + 5],
  memory_limit: [0, Number.MAX_SAFE_INTEGER],
  max_queued_messages: [0, INT_MAX],
  max_queued_bytes: [0, INT_MAX],
  max_subscriptions_per_client: [0, INT_MAX],
  max_inflight_messages: [0, 65535],
  publisher_hold_timeout: [0, 60],
  max_retained_messages: [0, INT_MAX],
  max_retained_bytes: [0, Number.MAX_SAFE_INTEGER],
  connect_timeout: [1, 65535],
  sys_interval: [0, 65535],
  explorer_cache_size: [0, 100_000],
  rules_script_time_limit: [50, 60_000],
} as const satisfies Record<string, readonly [number, number]>;

export type IntegerOption = keyof typeof INTEGER_RANGES;
