// Tests run with NODE_ENV=test: no random-secret warning, quiet logs unless LOG_LEVEL says otherwise.
process.env.NODE_ENV = 'test';
process.env.LOG_LEVEL ??= 'silent';
