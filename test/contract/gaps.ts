// Operations of the official useradm, deviceauth and inventory specs that Flotilla does not serve, each with the
// reason. routes.test.ts keeps this list exact: serving one of them, or dropping another, fails until updated.
export const notImplemented: Record<string, string> = {};
