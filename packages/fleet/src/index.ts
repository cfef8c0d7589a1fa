/**
 * @since 0.1.0
 */
export * as Fleet from "./Fleet.js"
export * as FleetHttp from "./FleetHttp.js"
export * as FleetKey from "./FleetKey.js"
export * as FleetMetrics from "./FleetMetrics.js"
export * as FleetStatus from "./FleetStatus.js"
export * as Location from "./Location.js"
export * as MessageRetention from "./MessageRetention.js"
export * as TokenStore from "./TokenStore.js"
export * as Schedules from "./Schedules.js"
