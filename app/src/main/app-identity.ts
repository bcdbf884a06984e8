/**
 * The app's identity, shared by the code that needs it at run time (Windows notifications,
 * the Linux autostart entry) and checked against electron-builder.yml by its test.
 */
export const APP_ID = 'dev.tether.desktop';
export const PRODUCT_NAME = 'Tether';
