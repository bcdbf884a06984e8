import { registerAppScheme } from './security.js';

/**
 * Side effects that must happen before the app's `ready` event. The main entry is an ES
 * module, and Electron runs only the side effects of the entry's *imports* before `ready`
 * (docs: "ES Modules in Electron", caveats); privileged schemes registered later are
 * ignored. main.ts imports this file first.
 */
registerAppScheme();
