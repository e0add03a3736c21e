// One implementation, shared with the gateway: see packages/messaging/src/serial.ts.
export { SerialByKey } from '@siteflow/messaging';
