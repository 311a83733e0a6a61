// Device configuration (Mender deviceconfig): per device, the configuration an operator set and the one the device
// last reported, both flat maps of strings kept as JSON text, and the latest configuration deployment.

export interface DeviceConfigurationTable {
  tenant_id: string;
  device_id: string;
  /** What the operator wants: `{"key":"value",...}` as JSON text. */
  configured_json: string;
  /** What the device last said it has, same shape. */
  reported_json: string;
  /** The latest configuration deployment made from `configured`. */
  deployment_id: string | null;
  updated_ts: string;
  reported_ts: string | null;
}

declare module '../store/schema.js' {
  interface Tables {
    device_configurations: DeviceConfigurationTable;
  }
}
