// Typed domain errors. Domain code throws these; each API family's error handler turns them into its own
// error shape and status code.

export class DomainError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** 400: the request is malformed or breaks a rule about its content. */
export class Invalid extends DomainError {
  constructor(message: string) {
    super(message, 400);
  }
}

/** 401: missing or bad credentials. */
export class Unauthorized extends DomainError {
  constructor(message = 'unauthorized') {
    super(message, 401);
  }
}

/** 403: valid credentials, but not for this. */
export class Forbidden extends DomainError {
  constructor(message = 'forbidden') {
    super(message, 403);
  }
}

export class NotFound extends DomainError {
  constructor(message = 'not found') {
    super(message, 404);
  }
}

export class Conflict extends DomainError {
  constructor(message: string) {
    super(message, 409);
  }
}

/** 413: the body is larger than allowed. */
export class TooLarge extends DomainError {
  constructor(message = 'request body too large') {
    super(message, 413);
  }
}

/** 422: well-formed, but cannot be done in the current state (e.g. a limit is reached). */
export class Unprocessable extends DomainError {
  constructor(message: string) {
    super(message, 422);
  }
}

/** 503: the server could not answer in time; the request may be retried (narrower, or later). */
export class Unavailable extends DomainError {
  constructor(message: string) {
    super(message, 503);
  }
}

export class TooManyRequests extends DomainError {
  constructor(
    readonly retryAfterSeconds: number,
    message = 'too many requests',
  ) {
    super(message, 429);
  }
}
