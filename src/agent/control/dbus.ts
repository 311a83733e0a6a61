// The Mender client 3.x D-Bus API for update control (Documentation/io.mender.Update1.xml, app/updatemanager.go):
// bus name io.mender.UpdateManager, object /io/mender/UpdateManager, interface io.mender.Update1, method
// SetUpdateControlMap(in s update_control_map, out i refresh_timeout). Device applications written for Mender call
// it unchanged. A refused map gets the client's error name, io.mender.Failed.
import dbus from 'dbus-next';
import { DomainError } from '../../errors.js';
import type { UpdateControl } from './update-control.js';

export const updateManagerBusName = 'io.mender.UpdateManager';
export const updateManagerObjectPath = '/io/mender/UpdateManager';
export const updateInterfaceName = 'io.mender.Update1';
export const failedErrorName = 'io.mender.Failed';

export interface DBusServeOptions {
  /** 'system' (as the Mender client), 'session', or a bus address such as a private dbus-daemon's. */
  bus?: 'system' | 'session' | { address: string };
  log?: (message: string) => void;
}

export interface DBusUpdateManager {
  /** Whether this process owns io.mender.UpdateManager (false: queued behind another owner). */
  readonly primaryOwner: boolean;
  close(): Promise<void>;
}

interface IntrospectedArg {
  $: { direction: string; type: string; name?: string };
}
interface IntrospectedMethod {
  $: { name: string };
  arg: IntrospectedArg[];
}

class Update1 extends dbus.interface.Interface {
  constructor(
    private readonly control: UpdateControl,
    private readonly log: (message: string) => void,
  ) {
    super(updateInterfaceName);
  }

  SetUpdateControlMap(updateControlMap: string): number {
    try {
      return this.control.setLocalJson(updateControlMap);
    } catch (error) {
      // Only refusals of the map are the caller's business; anything else is our bug and also fails the call.
      const message = error instanceof DomainError ? error.message : 'Method returned error';
      this.log(`SetUpdateControlMap refused: ${(error as Error).message}`);
      throw new dbus.DBusError(failedErrorName, message);
    }
  }

  /** dbus-next names arguments arg_0, arg_1; introspection shows Mender's names instead. */
  $introspect(): { method?: IntrospectedMethod[] } {
    const parent = dbus.interface.Interface.prototype as unknown as {
      $introspect(): { method?: IntrospectedMethod[] };
    };
    const xml = parent.$introspect.call(this);
    for (const method of xml.method ?? []) {
      if (method.$.name !== 'SetUpdateControlMap') continue;
      for (const arg of method.arg) arg.$.name = arg.$.direction === 'in' ? 'update_control_map' : 'refresh_timeout';
    }
    return xml;
  }
}

Update1.configureMembers({
  methods: { SetUpdateControlMap: { inSignature: 's', outSignature: 'i' } },
});

function connect(bus: DBusServeOptions['bus']): dbus.MessageBus {
  if (bus === undefined || bus === 'system') return dbus.systemBus();
  if (bus === 'session') return dbus.sessionBus();
  return dbus.sessionBus({ busAddress: bus.address });
}

/**
 * Exports io.mender.Update1 for `control` and requests the bus name the way the client does (allow replacement,
 * replace an existing owner). On the system bus this needs a policy allowing it to own the name, like the client's
 * support/dbus/io.mender.UpdateManager.conf.
 */
export async function serveUpdateControlDBus(
  control: UpdateControl,
  options: DBusServeOptions = {},
): Promise<DBusUpdateManager> {
  const log = options.log ?? (() => {});
  const bus = connect(options.bus);
  // Without a listener, a dropped bus connection would be an uncaught 'error' event and end the process.
  bus.on('error', (error) => log(`D-Bus connection error: ${(error as Error)?.message ?? error}`));
  const iface = new Update1(control, log);
  try {
    bus.export(updateManagerObjectPath, iface);
    const reply = await bus.requestName(
      updateManagerBusName,
      dbus.NameFlag.ALLOW_REPLACEMENT | dbus.NameFlag.REPLACE_EXISTING,
    );
    const primaryOwner = reply === dbus.RequestNameReply.PRIMARY_OWNER || reply === dbus.RequestNameReply.ALREADY_OWNER;
    return {
      primaryOwner,
      async close() {
        try {
          await bus.releaseName(updateManagerBusName);
        } catch {
          // The connection may already be gone; disconnecting is all that is left to do.
        }
        bus.unexport(updateManagerObjectPath, iface);
        bus.disconnect();
      },
    };
  } catch (error) {
    bus.disconnect();
    throw error;
  }
}
