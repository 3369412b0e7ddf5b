/**
 * Stripe's card errors as the `payment_failed` reasons the simulated gateway gives: the same word for
 * the same cause, whichever gateway took the card. Stripe's `decline_code` is the finer one
 * (`insufficient_funds` arrives as code `card_declined`); a reason we do not name is `card_declined`.
 */
const reasons: Record<string, string> = {
  insufficient_funds: 'insufficient_funds',
  expired_card: 'expired_card',
  incorrect_cvc: 'incorrect_cvc',
  incorrect_number: 'incorrect_number',
  invalid_cvc: 'incorrect_cvc',
  invalid_expiry_month: 'expired_card',
  invalid_expiry_year: 'expired_card',
  lost_card: 'card_declined',
  stolen_card: 'card_declined',
  fraudulent: 'card_declined',
  processing_error: 'processing_error',
  authentication_required: 'authentication_required',
};

export function declineReason(err: { code?: string | null; decline_code?: string | null }): string {
  return reasons[err.decline_code ?? ''] ?? reasons[err.code ?? ''] ?? 'card_declined';
}
