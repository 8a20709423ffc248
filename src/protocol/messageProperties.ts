import type * as mqtt from 'mqtt-packet';
import type { StoredMessageProperties, StoredUserProperty } from '../persistence/StoreSnapshot';

type PacketProperties = {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: mqtt.UserProperties;
};

/** The forwardable MQTT 5 properties of an incoming PUBLISH or will, in the broker's form. */
export function fromPacketProperties(p: PacketProperties | undefined): StoredMessageProperties | undefined {
  if (!p) return undefined;
  const out: StoredMessageProperties = {};
  let any = false;
  if (p.payloadFormatIndicator !== undefined) {
    out.payloadFormatIndicator = p.payloadFormatIndicator;
    any = true;
  }
  if (p.contentType !== undefined) {
    out.contentType = p.contentType;
    any = true;
  }
  if (p.responseTopic !== undefined) {
    out.responseTopic = p.responseTopic;
    any = true;
  }
  if (p.correlationData !== undefined) {
    out.correlationData = p.correlationData;
    any = true;
  }
  if (p.userProperties) {
    const list: StoredUserProperty[] = [];
    for (const [key, value] of Object.entries(p.userProperties)) {
      if (Array.isArray(value)) for (const v of value) list.push({ key, value: String(v) });
      else list.push({ key, value: String(value) });
    }
    if (list.length > 0) {
      out.userProperties = list;
      any = true;
    }
  }
  return any ? out : undefined;
}
