/**
 * @since 0.1.0
 */
export * as Asset from "./Asset.js"
export * as Assignment from "./Assignment.js"
export * as ClientConfig from "./ClientConfig.js"
export * as Common from "./Common.js"
export * as Cursor from "./Cursor.js"
export * as Legacy from "./Legacy.js"
export * as Page from "./Page.js"
export * as PageIndex from "./PageIndex.js"
export * as RetryPolicy from "./RetryPolicy.js"
export * as SToken from "./SToken.js"
export * as Subscription from "./Subscription.js"
export * as Traversal from "./Traversal.js"
export * as User from "./User.js"
export * as VppClient from "./VppClient.js"
export * as VppError from "./VppError.js"
