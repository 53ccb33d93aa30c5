"""The agreement in English (Canadian spelling; amounts ``$24,999.00``, dates ``December 23, 2025``)."""

from __future__ import annotations

from adapters.documents.agreement_text.catalogue import Catalogue

STRINGS: dict[str, str] = {
    # document
    "title": "Vehicle purchase agreement {number}",
    "continued": "Vehicle purchase agreement {number} (continued)",
    "subject": "Bill of sale: {vehicle}, VIN {vin}",
    "keywords": "purchase agreement, bill of sale, {number}",
    "footer_dealer": "{dealer} · Dealer registration {registration}",
    "footer_page": "Agreement {number} · Page {page} of {pages}",
    "version_note": "",
    "not_stated": "Not stated",
    "yes": "Yes",
    "no": "No",
    # header
    "heading": "VEHICLE PURCHASE AGREEMENT",
    "subheading": "Bill of sale — used motor vehicle",
    "agreement_no": "Agreement no. {number}",
    "date_of_sale": "Date of sale: {date}",
    "dealer_registration_no": "Dealer registration no. {registration}",
    "gst_no": "GST/HST registration no. {number}",
    "qst_no": "QST registration no. {number}",
    # parties
    "buyer_box": "BUYER",
    "dealer_box": "DEALER (SELLER)",
    "phone": "Phone: {phone}",
    "email": "Email: {email}",
    "registration_no": "Registration no.: {registration}",
    "sales_advisor": "Sales advisor: {name}",
    # vehicle
    "vehicle": "Vehicle",
    "year": "Year",
    "make": "Make",
    "model": "Model",
    "trim": "Trim",
    "body_type": "Body type",
    "colour": "Colour",
    "vin": "VIN",
    "odometer": "Odometer",
    "odometer_value": "{km} km (as shown on the odometer)",
    "stock_no": "Stock no.",
    "condition": "Condition",
    "used": "Used",
    "safety_heading": "Safety standards",
    "certified": (
        "This vehicle is sold with a Safety Standards Certificate ({certificate}), issued for it by a licensed "
        "motor vehicle inspection station."
    ),
    "as_is": (
        "This vehicle is being sold \u201cas is\u201d and is not represented as being in road worthy condition, "
        "mechanically sound or maintained at any guaranteed level of quality. The vehicle may not be fit for use as "
        "a means of transportation and may require substantial repairs at the purchaser's expense. It may not be "
        "possible to register the vehicle to be driven in its current condition."
    ),
    "warranty_heading": "Warranty",
    "warranty_none": "No warranty is given with this vehicle, by the dealer or by the manufacturer.",
    "warranty_manufacturer": "The remainder of the manufacturer's warranty applies{detail}.",
    "warranty_extended": "An extended warranty is included{detail}.",
    # disclosures
    "disclosures_heading": "Vehicle history disclosures",
    "disclosures_intro": (
        "The dealer answers every category below from what it knows of the vehicle's history; a \u201cNo\u201d is the "
        "dealer's statement that the category does not apply."
    ),
    "disclosure.daily_rental": "Previously used as a daily rental vehicle",
    "disclosure.police": "Previously used as a police vehicle",
    "disclosure.taxi_limousine": "Previously used as a taxi or limousine",
    "disclosure.emergency": "Previously used as an emergency vehicle",
    "disclosure.fire_damage": "Sustained fire damage",
    "disclosure.flood_damage": "Sustained flood damage (immersed in liquid)",
    "disclosure.odometer": "Odometer unreliable, replaced or rolled back (actual distance may be higher)",
    "disclosure.manufacturer_warranty_cancelled": "Manufacturer's warranty cancelled",
    "disclosure.branded": "Branded as irreparable, salvage or rebuilt",
    "disclosure.accident_damage": "Sustained accident damage exceeding $3,000 (total repair costs)",
    "disclosure.out_of_province": "Previously registered outside Ontario (another province or the United States)",
    "disclosure.total_loss": "Declared a total loss by an insurer",
    "disclosure.structural_alteration": "Structural alterations or changes to the original body or frame",
    "disclosure.inoperative_safety_system": "Anti-lock brakes or airbags inoperative",
    "disclosure.other": "Any other material fact",
    "no_other_material_fact": "The dealer knows of no other material fact about this vehicle.",
    # price
    "price_heading": "Purchase price",
    "vehicle_price": "Vehicle price",
    "trade_in_credit": "Trade-in credit",
    "admin_fee": "Administration fee",
    "documentation_fee": "Documentation fee",
    "subtotal": "Subtotal (taxable amount)",
    "tax_line": "{kind} {rate} on {amount}",
    "tax_total": "Total sales tax ({rate})",
    "licence_fee": "Licence and plate fee (not taxable)",
    "total_price": "Total purchase price",
    "rates_in_force": "Sales tax charged at the rates in force on {date} for a buyer residing in {province}.",
    "trade_in_reduces": " The trade-in credit reduces the taxable amount.",
    "tax_numbers": " Dealer's GST/HST no. {gst}.",
    "tax_numbers_qst": " Dealer's GST/HST no. {gst}; QST no. {qst}.",
    # trade-in
    "trade_in_heading": "Trade-in",
    "no_trade_in": "No trade-in vehicle is part of this agreement.",
    "trade_in_vehicle": "Vehicle",
    "credit_applied": "Credit applied",
    "appraisal_ref": "Appraisal ref.",
    "trade_in_statement": (
        "The buyer states that they own the trade-in vehicle, that it is as described in the appraisal, and that any "
        "lien on it has been disclosed to the dealer; the credit is applied when the vehicle is handed over."
    ),
    # payment
    "payment_heading": "Payment",
    "deposit_received": "Deposit received",
    "down_payment": "Down payment",
    "down_payment_financed": "Down payment (due before delivery)",
    "balance_financed": "Balance owing — to be financed by {lender}",
    "balance_cash": "Balance owing — due before delivery",
    "the_lender": "the lender",
    "financed_note": "The balance owing is paid to the dealer by the lender; see the financing disclosure.",
    "cash_note": "Payment method: cash purchase (bank transfer or card); no financing.",
    # financing
    "financing_heading": "Financing disclosure",
    "lender": "Lender",
    "amount_financed": "Amount financed",
    "apr": "Annual rate (APR)",
    "term": "Term",
    "term_value": "{months} months ({months} monthly payments)",
    "monthly_payment": "Monthly payment",
    "total_of_payments": "Total of payments",
    "cost_of_borrowing": "Cost of borrowing",
    "terms_label": "Terms",
    "lender_terms": "As set out in the lender's credit agreement",
    "financing_note": (
        "The cost of borrowing is the total of payments less the amount financed, with interest compounded monthly "
        "and no other charges. The loan is made by the lender under its own credit agreement with the buyer, which "
        "governs the loan if it differs from this summary."
    ),
    # delivery
    "delivery_heading": "Delivery",
    "method": "Method",
    "home_delivery": "Home delivery",
    "pickup": "Pickup by the buyer",
    "deliver_to": "Deliver to",
    "pickup_at": "Pickup at",
    "delivery_date": "Delivery date",
    "to_be_confirmed": "To be confirmed with the buyer",
    "pickup_location": "The dealer's pickup location, as confirmed",
    "scheduled": "{date}{window} (scheduled)",
    "requested": "{date} (requested; to be confirmed by the dealer)",
    "to_be_scheduled": "To be scheduled with the buyer",
    # terms
    "terms_heading": "Terms and conditions",
    "term.deposit": "Deposit",
    "term.deposit.body": (
        "The refundable deposit of {deposit} received with the reservation is applied to the purchase price."
    ),
    "term.payment": "Payment and delivery",
    "term.payment.body": (
        "The vehicle is delivered or handed over only once the balance owing has been paid (or the financing funded) "
        "and the buyer has provided proof of valid insurance on the vehicle."
    ),
    "term.cancellation": "Cancellation before delivery",
    "term.cancellation.body": (
        "Until the vehicle is dispatched for delivery or handed over, the buyer may cancel this agreement; everything "
        "paid under it, the deposit included, is then refunded."
    ),
    "term.return": "{days}-day return policy",
    "term.return.body": (
        "The buyer may return the vehicle within {days} days after the day of delivery, in the condition in which it "
        "was delivered, for a refund of the amounts paid under this agreement."
    ),
    "term.final": "When the sale becomes final",
    "term.final.body.return": (
        "The sale becomes final when the {days}-day return period of clause {clause} ends; before delivery, "
        "clause {cancel} applies."
    ),
    "term.final.body": (
        "The sale becomes final when the vehicle is delivered or handed over; before then, clause {cancel} applies."
    ),
    "term.taxes": "Taxes and fees",
    "term.taxes.body": (
        "Every charge and each sales tax is itemised above; no other fee is payable to the dealer under this agreement."
    ),
    "term.esign": "Electronic signature",
    "term.esign.body": (
        "The parties agree that this agreement may be signed electronically and that an electronic signature has the "
        "same effect as a handwritten one (Electronic Commerce Act, 2000, Ontario). The signed copy records who "
        "signed, when and from where, and carries the dealer's digital seal. The agreement is executed once both the "
        "buyer and the dealer have signed it."
    ),
    "term.registration": "Dealer registration",
    "term.registration.body": (
        "{dealer} is a motor vehicle dealer registered in Ontario under registration number {registration}."
    ),
    "term.entire": "Entire agreement",
    "term.entire.body": (
        "This document is the entire agreement between the buyer and the dealer for the sale of the vehicle and is "
        "governed by the laws of Ontario and of Canada applicable there."
    ),
    # provinces and taxes
    "province.AB": "Alberta",
    "province.BC": "British Columbia",
    "province.MB": "Manitoba",
    "province.NB": "New Brunswick",
    "province.NL": "Newfoundland and Labrador",
    "province.NS": "Nova Scotia",
    "province.NT": "Northwest Territories",
    "province.NU": "Nunavut",
    "province.ON": "Ontario",
    "province.PE": "Prince Edward Island",
    "province.QC": "Quebec",
    "province.SK": "Saskatchewan",
    "province.YT": "Yukon",
    "tax.GST": "GST",
    "tax.HST": "HST",
    "tax.PST": "PST",
    "tax.QST": "QST",
    "tax.RST": "RST",
    # signatures
    "signatures_heading": "Signatures",
    "sales_final.return": (
        "Once the vehicle is delivered, the sale is final, subject only to the {days}-day return policy (clause "
        "{clause}); before delivery the buyer may cancel (clause {cancel})."
    ),
    "sales_final": (
        "Once the vehicle is delivered, the sale is final; before delivery the buyer may cancel (clause {cancel})."
    ),
    "buyer_label": "BUYER",
    "dealer_label": "DEALER",
    "buyer_signature": "Buyer's signature",
    "name": "Name: {name}",
    "date": "Date:",
    "for_dealer": "For {dealer}",
    "dealer_registration_line": "Registration no. {registration}",
    "dealer_signature": "Authorized representative's signature",
    "name_and_title": "Name and title:",
    "signature_note": (
        "When this agreement is signed electronically, each signature, with its date and time, is printed on its "
        "line above, a signature record (signers, times, IP addresses, devices and the SHA-256 fingerprint of these "
        "pages) is added as the last page, and the dealer's digital seal is applied to the whole document."
    ),
}

CATALOGUE = Catalogue(
    language="en",
    locale="en-CA",
    months=(
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    strings=STRINGS,
    thousands=",",
    decimal_point=".",
    currency_after=False,
)
