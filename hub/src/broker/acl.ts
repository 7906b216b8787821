/**
 * What a relay may do on the broker, shaped by what real Tasmota does: it publishes under its
 * own `tele/<t>/`, `stat/<t>/` and `cmnd/<t>/` (an empty `cmnd/<t>/POWER` on every connect), and
 * subscribes to `cmnd/<t>/#` plus its group and fallback topics, which we refuse with SUBACK 0x80.
 */
export function mayPublish(deviceTopic: string, topic: string): boolean {
  for (const prefix of ['tele', 'stat', 'cmnd']) {
    const own = `${prefix}/${deviceTopic}/`;
    if (topic.length > own.length && topic.startsWith(own)) return true;
  }
  return false;
}

export function maySubscribe(deviceTopic: string, filter: string): boolean {
  const own = `cmnd/${deviceTopic}/`;
  if (!filter.startsWith(own) || filter.length === own.length) return false;
  // `cmnd/<t>/#` or a concrete command; no `+` that could reach further.
  const rest = filter.slice(own.length);
  return rest === '#' || !/[#+]/.test(rest);
}

/** Whether a granted subscription lets the device hear `cmnd/<t>/POWER…`. */
export function hearsPowerCommands(deviceTopic: string, filter: string): boolean {
  const own = `cmnd/${deviceTopic}/`;
  return filter === `${own}#` || (filter.startsWith(`${own}POWER`) && maySubscribe(deviceTopic, filter));
}
