// The part of Meta's facebook-nodejs-business-sdk (plain JavaScript, no types) that bench/mapping.ts uses.
declare module "facebook-nodejs-business-sdk" {
  export class UserData {
    setEmails(values: string[]): this;
    setPhones(values: string[]): this;
    setFirstNames(values: string[]): this;
    setLastNames(values: string[]): this;
    setCities(values: string[]): this;
    setStates(values: string[]): this;
    setZips(values: string[]): this;
    setCountries(values: string[]): this;
    setExternalIds(values: string[]): this;
    setClientIpAddress(value: string): this;
    setClientUserAgent(value: string): this;
    setFbc(value: string): this;
    setFbp(value: string): this;
    normalize(): Record<string, unknown>;
  }
  export class Content {
    setId(value: string): this;
    setQuantity(value: number): this;
    setItemPrice(value: number): this;
  }
  export class CustomData {
    setValue(value: number): this;
    setCurrency(value: string): this;
    setOrderId(value: string): this;
    setContents(value: Content[]): this;
    setContentIds(value: string[]): this;
    setContentType(value: string): this;
    setNumItems(value: number): this;
    normalize(): Record<string, unknown>;
  }
  export class ServerEvent {
    setEventName(value: string): this;
    setEventTime(value: number): this;
    setEventId(value: string): this;
    setActionSource(value: string): this;
    setEventSourceUrl(value: string): this;
    setUserData(value: UserData): this;
    setCustomData(value: CustomData): this;
    normalize(): Record<string, unknown>;
  }
  export class ServerSideUtils {
    static toSHA256(input: string): string;
  }
}
