import { ValidationError } from '../../events/validation-error.ts';

/** A write that storage cannot keep now (disk full, unwritable): the API's 503 `storage unavailable: <why>`. */
export class StorageUnavailable extends ValidationError {
  constructor(why: string) {
    super(`storage unavailable: ${why}`, 503);
  }
}
