/** The JSON body of every error the HTTP API answers with (the web page imports this type too). */
export interface ErrorBody {
  error: { code: string; message: string };
}
