// See package.json: no USocket here, so dbus-next connects with net.createConnection instead.
module.exports = {};
