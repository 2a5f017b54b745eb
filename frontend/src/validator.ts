/** One Ajv (Draft 2020-12 + formats) for the config forms, matching the server's jsonschema validator. */
import { customizeValidator } from "@rjsf/validator-ajv8";
import Ajv2020 from "ajv/dist/2020";

export const validator = customizeValidator({
  AjvClass: Ajv2020 as never,
  ajvOptionsOverrides: { strict: false },
});
