import type { Broker } from '../broker/Broker';
import type { ListenerConfig } from '../config/BrokerConfig';
import { Connection, firstPacketLimit } from '../protocol/Connection';
import { ConnectionRegistry } from '../protocol/ConnectionRegistry';
import { openListener, type Listener } from '../transport/Listener';

/**
 * Joins transports to the protocol layer: every stream a listener accepts becomes a
 * Connection on the broker. This is the piece an embedding program uses to serve MQTT.
 */
export class MqttServer {
  readonly registry: ConnectionRegistry;
  readonly listeners: Listener[] = [];
  /** False once stopTakingWork() ran: new connections are closed at once. */
  private accepting = true;

  constructor(readonly broker: Broker) {
    this.registry = new ConnectionRegistry(broker);
  }

  /** Opens one listener (port 0 picks a free port: see `listener.addresses()`). */
  async listen(config: ListenerConfig): Promise<Listener> {
    const listener = await openListener(config, (stream, info) => {
      if (!this.accepting) {
        stream.destroy();
        return;
      }
      new Connection(
        stream,
        this.broker,
        {
          remoteAddress: info.remoteAddress,
          // Only use_identity_as_username makes the certificate a credential; otherwise mosquitto
          // still checks the CONNECT username and password (handle_connect.c) and so does mqttd.
          certificateIdentity: config.useIdentityAsUsername ? info.certificateIdentity : undefined,
          useIdentityAsUsername: config.useIdentityAsUsername,
          mountPoint: config.mountPoint,
          raiseMessageLimit: info.raiseMessageLimit,
        },
        this.registry,
      );
    }, { firstMessageBytes: firstPacketLimit(this.broker.limits) });
    this.listeners.push(listener);
    return listener;
  }

  /**
   * The first step of a shutdown: no new connections, and no more packets read from the
   * open ones, so nothing is acknowledged that a final save would miss. What was read is
   * still answered (the acknowledgements already written go out).
   */
  stopTakingWork(): void {
    this.accepting = false;
    for (const c of this.registry.connections) c.pauseReading();
  }

  /** Stops accepting, disconnects every client and closes the listeners. */
  async close(): Promise<void> {
    this.broker.close();
    // A socket that has not sent CONNECT has no session to close; left open, it would hold
    // the listeners' close (and a SIGTERM) until its CONNECT timeout.
    for (const c of this.registry.connections) if (c.state !== 'connected') c.destroy();
    await Promise.all(this.listeners.map((l) => l.close()));
    this.listeners.length = 0;
    this.registry.close();
  }
}
