// The Prebid.js bundle of the browser test: Prebid's core plus the Price Floors Module, nothing else.
// Built by build.mjs (esbuild) into dist/prebid-floors.js; the page adds its own test bid adapter.
import pbjs from 'prebid.js';
import 'prebid.js/modules/priceFloors';

pbjs.processQueue();
