// Tests run with NODE_ENV=test: no random-secret warning, quiet logs unless LOG_LEVEL says otherwise.
process.env.NODE_ENV = 'test';
process.env.LOG_LEVEL ??= 'silent';

// bunfig's [test] timeout is not applied by every Bun version: set the default here too.
import { setDefaultTimeout } from 'bun:test';

setDefaultTimeout(60_000);
