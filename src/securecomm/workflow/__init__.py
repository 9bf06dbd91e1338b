"""The booking workflow: durable stages from a CAR submission to SRE, IDR, IAQ and IAR."""
