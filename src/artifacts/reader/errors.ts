import { Invalid } from '../../errors.js';

/** Anything wrong with an artifact's content: the upload answers 400 with this message. */
export class ArtifactError extends Invalid {
  constructor(message: string) {
    super(`invalid artifact: ${message}`);
  }
}
