import { ROLES, type Role } from '../store/users-repo.js';

export { ROLES, type Role };

/** Roles form a ladder: each holds every right of the ones below it. */
export function hasRole(role: Role, atLeast: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(atLeast);
}

/** A user's zones (empty = all) decide which lights a resident may switch; heads switch all. */
export function maySwitchZone(user: { role: Role; zones: string[] }, zone: string): boolean {
  return hasRole(user.role, 'head') || user.zones.length === 0 || user.zones.includes(zone);
}
